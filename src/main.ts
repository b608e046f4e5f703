// Entry point: read configuration, listen, print one start-up summary, drain on SIGTERM/SIGINT.
import { installFaultGuard } from './call/fault-guard.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createGateway, VERSION } from './gateway.js';
import { StartupError } from './startup/checks.js';
import { mediaStreamUrl } from './twilio/twiml.js';

function readConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Configuration error: ${err.message}`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

/** One line on stderr, once; a StartupError says which setting to fix and picks the exit code. */
function exitOnStartFailure(err: Error): never {
  console.error(`Could not start the gateway: ${err.message}`);
  process.exit(err instanceof StartupError ? err.exitCode : 1);
}

async function main(): Promise<void> {
  const config = readConfigOrExit();
  const gateway = await createGateway(config).catch(exitOnStartFailure);
  const { logger } = gateway;
  installFaultGuard(logger);
  const address = await gateway.listen(config.port).catch(exitOnStartFailure);
  const local = `http://localhost:${address.port}`;
  logger.info(`telephony gateway ${VERSION} listening on ${local}`, {
    agent: gateway.agentKind,
    voiceWebhook: `${config.publicUrl ?? local}/twilio/voice`,
    mediaStream: config.publicUrl ? mediaStreamUrl(config.publicUrl) : `ws://localhost:${address.port}/twilio/media-stream`,
    dataDir: config.dataDir,
    recordingsDir: config.recordingsDir,
  });
  if (!config.twilio.authToken) {
    logger.warn('TWILIO_AUTH_TOKEN is not set: Twilio webhooks and media streams are NOT signature-checked. Set it before exposing this gateway.');
  }
  if (!config.apiKey) {
    logger.warn('API_KEY is not set: /api/* (call tasks, recordings, analysis, telemetry) answers anyone who can reach this port. Set it before exposing this gateway.');
  }
  if (!config.publicUrl) {
    logger.warn('PUBLIC_URL is not set: TwiML will point Twilio at the Host header of each webhook request.');
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn(`${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: draining`, { activeCalls: gateway.calls.size, timeoutS: config.drainTimeoutS });
    const { endedEarly } = await gateway.drain(config.drainTimeoutS * 1000);
    if (endedEarly > 0) logger.warn('ended calls still active at the drain timeout', { calls: endedEarly });
    await gateway.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

void main();
