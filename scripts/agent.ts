// `npm run agent`: the room agent worker as a process of its own, for rooms at scale (run as many
// as the rooms need, on any machine that reaches LiveKit). Same configuration as the gateway
// (LIVEKIT_URL/KEY/SECRET, LIVEKIT_AGENT_NAME, the pipeline's providers). SIGTERM or Ctrl-C drains
// it: no new job, the running room sessions get DRAIN_TIMEOUT_S to end, then it exits 0.
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import { LocalChannel } from '../src/fleet/channel.js';
import { finishedRoomSession, openPersistence } from '../src/persistence/index.js';
import { RoomAgentWorker } from '../src/rooms/agent-worker.js';
import { openRoomSessionSink } from '../src/rooms/index.js';
import { Telemetry } from '../src/telemetry/events.js';
import { createLogger, flushLogs } from '../src/telemetry/logger.js';

/** sysexits' EX_CONFIG, as the gateway exits on a bad configuration. */
const EX_CONFIG = 78;

function readConfig(): Config {
  try {
    const config = loadConfig();
    if (RoomAgentWorker.configured(config.livekit)) return config;
    console.error('npm run agent needs LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET');
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    console.error(`Configuration error:\n${err.problems.map((p) => `  ${p.variable}: ${p.problem}`).join('\n')}`);
  }
  process.exit(EX_CONFIG);
}

async function main(): Promise<void> {
  const config = readConfig();
  // The console only: several of these may run on one machine, and each would rotate one file.
  const logger = createLogger({ level: config.logLevel });
  // Sessions are recorded in the gateway's store (the same DATA_DIR on this machine, or DATABASE_URL),
  // so GET /session/{id} shows what this process's agents said; a finished one is queued for the
  // persistence service there, and the gateway's sender delivers it. This process is no fleet
  // member: the gateway's live transcript sockets show its lines on their next snapshot, not live.
  // Its telemetry stays in memory: this process serves no /api/telemetry.
  const telemetry = new Telemetry({ noisyEveryN: config.logNoisyEventsEveryN });
  const persistence = await openPersistence(config, { logger, telemetry, agent: 'livekit' });
  const sessions = await openRoomSessionSink(config, {
    logger,
    channel: new LocalChannel(),
    ...(persistence && { onSessionEnded: (session) => persistence.onSessionEnded(finishedRoomSession(session)) }),
  });
  const worker = new RoomAgentWorker({ config, logger, sink: sessions.sink });
  await worker.start();
  logger.info('room agent worker started', { agentName: config.livekit.agentName, url: config.livekit.url, pid: process.pid });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: draining the room agent worker`, { timeoutS: config.drainTimeoutS });
    await worker.drain(config.drainTimeoutS * 1000);
    await worker.close();
    await sessions.close();
    await persistence?.close();
    await telemetry.close();
    logger.info('stopped');
    await flushLogs(logger);
    // The rtc-node handle keeps the event loop alive after the last room.
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

void main();
