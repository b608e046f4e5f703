// Entry point: read configuration, then either serve (one process, or one worker of a fleet) or,
// with WORKERS > 1, become the cluster's primary (src/cluster/primary.ts), which forks workers that
// run this file again. The primary imports only what it needs: it serves no request, and loading
// the gateway's whole module graph would cost it ~100 MB it never uses, and the major collections
// that free what start-up allocated, on a machine whose CPU belongs to the calls.
import cluster from 'node:cluster';
import { memberIdOf } from './cluster/ipc.js';
import { runPrimary, SETTLING_WORKER_ID } from './cluster/primary.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { assertWritableDirs, exitOnStartFailure } from './startup/checks.js';
import { createLogger } from './telemetry/logger.js';

function readConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      const lines = err.problems.map((p) => `  ${p.variable}: ${p.problem}`);
      console.error(`Configuration error${err.problems.length > 1 ? 's' : ''}:\n${lines.join('\n')}`);
      process.exit(78); // EX_CONFIG
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = readConfigOrExit();
  if (config.workers > 1 && cluster.isPrimary) return startPrimary(config);
  const worker = cluster.worker;
  const { serve } = await import('./startup/serve.js');
  await serve(config, worker && { id: memberIdOf(worker.id), settles: worker.id === SETTLING_WORKER_ID });
}

function startPrimary(config: Config): void {
  try {
    assertWritableDirs([['DATA_DIR', config.dataDir]]);
  } catch (err) {
    exitOnStartFailure(err as Error);
  }
  const logger = createLogger({ level: config.logLevel, file: `${config.dataDir}/service.log`, maxFileBytes: config.logMaxFileBytes, maxFiles: config.logMaxFiles });
  runPrimary({ config, logger });
}

void main();
