// Boots a whole gateway on 127.0.0.1 port 0 with its own temporary data and recordings folders.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, type Config, type Env } from '../../src/config.js';
import { createGateway, type Gateway, type GatewayDeps } from '../../src/gateway.js';
import type { CallSummary } from '../../src/call/call-types.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Telemetry } from '../../src/telemetry/events.js';

export interface TestGateway {
  gateway: Gateway;
  config: Config;
  baseUrl: string;
  wsUrl: string;
  telemetry: Telemetry;
  /** Summaries of calls that ended, in order. */
  ended: CallSummary[];
  nextEnded(timeoutMs?: number): Promise<CallSummary>;
  close(): Promise<void>;
}

let gateways = 0;

/**
 * With DATABASE_URL each gateway joins the fleet on PostgreSQL, and several in this one process
 * need ids of their own: `test-<pid>-<n>` unless `deps` names one (or sets `memberId: undefined`
 * to keep the gateway's own default).
 */
export async function startTestGateway(env: Env = {}, deps: GatewayDeps = {}): Promise<TestGateway> {
  gateways++;
  const root = mkdtempSync(path.join(os.tmpdir(), 'gateway-test-'));
  const config = loadConfig({
    DATA_DIR: path.join(root, 'data'),
    RECORDINGS_DIR: path.join(root, 'recordings'),
    LOG_NOISY_EVENTS_EVERY_N: '1',
    // Unlike Twilio, the fake callers pause between turns without sending frames, on a clock
    // faster than real time, so their gaps outrun the wall clock; a test of the bound sets its own.
    MEDIA_MAX_LEAD_S: '600',
    ...env,
  });
  const telemetry = deps.telemetry ?? new Telemetry({ noisyEveryN: config.logNoisyEventsEveryN });
  const ended: CallSummary[] = [];
  const waiters: Array<(s: CallSummary) => void> = [];
  const gateway = await createGateway(config, {
    logger: silentLogger(),
    telemetry,
    memberId: `test-${process.pid}-${gateways}`,
    ...deps,
    hooks: {
      ...deps.hooks,
      ended(summary) {
        ended.push(summary);
        waiters.shift()?.(summary);
        deps.hooks?.ended?.(summary);
      },
    },
  });
  const address = await gateway.listen(0, '127.0.0.1');
  let consumed = 0;
  return {
    gateway,
    config,
    telemetry,
    ended,
    baseUrl: `http://127.0.0.1:${address.port}`,
    wsUrl: `ws://127.0.0.1:${address.port}/twilio/media-stream`,
    nextEnded(timeoutMs = 5000) {
      if (ended.length > consumed) return Promise.resolve(ended[consumed++]!);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no call ended in time')), timeoutMs);
        waiters.push((s) => {
          clearTimeout(timer);
          consumed++;
          resolve(s);
        });
      });
    },
    async close() {
      await gateway.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
