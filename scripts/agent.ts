// `npm run agent`: the room agent worker as a process of its own, for rooms at scale (run as many
// as the rooms need, on any machine that reaches LiveKit). Same configuration as the gateway
// (LIVEKIT_URL/KEY/SECRET, LIVEKIT_AGENT_NAME, the pipeline's providers). SIGTERM or Ctrl-C drains
// it: no new job, the running room sessions get DRAIN_TIMEOUT_S to end, then it exits 0.
import { ConfigError, loadConfig, type Config } from '../src/config.js';
import { RoomAgentWorker } from '../src/rooms/agent-worker.js';
import { loggingRoomSessionSink } from '../src/rooms/agent-worker-inline.js';
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
  // The session events go to the log until the rooms API's sink (store and live bus) is connected here.
  const worker = new RoomAgentWorker({ config, logger, sink: loggingRoomSessionSink(logger) });
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
    logger.info('stopped');
    await flushLogs(logger);
    // The rtc-node handle keeps the event loop alive after the last room.
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

void main();
