// Run as a child process by the fault-guard test: a whole gateway with the process-level fault
// guard installed, as src/main.ts installs it. Calls get the echo agent, except that a stream
// whose `customParameters.fault` is `timer` gets an agent that throws from a timer it set going,
// `rejection` one that leaves a rejected promise unhandled in a timer, `frame` one that throws on
// the first caller frame, and `close` one that throws synchronously while the call ends. Logs go
// to stdout; the port is printed as `listening PORT` once the gateway listens.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentBridge } from '../../src/agents/bridge.js';
import { EchoAgent } from '../../src/agents/echo.js';
import { installFaultGuard } from '../../src/call/fault-guard.js';
import { loadConfig } from '../../src/config.js';
import { createGateway } from '../../src/gateway.js';
import { createLogger } from '../../src/telemetry/logger.js';

class FaultyAgent implements AgentBridge {
  readonly kind = 'faulty';
  constructor(private readonly fault: string) {}

  async start(): Promise<void> {
    if (this.fault === 'timer') {
      setTimeout(() => {
        throw new Error('the agent broke in a timer');
      }, 50);
    }
    if (this.fault === 'rejection') {
      setTimeout(() => void Promise.reject(new Error('the agent left a rejection unhandled')), 50);
    }
  }

  pushCallerAudio(): void {
    if (this.fault === 'frame') throw new Error('the agent broke on a caller frame');
  }

  pushDtmf(): void {}
  utterancePlayed(): void {}

  close(): Promise<void> {
    if (this.fault === 'close') throw new Error('the agent broke while closing');
    return Promise.resolve();
  }
}

const root = mkdtempSync(path.join(os.tmpdir(), 'faulty-gateway-'));
const config = loadConfig({ DATA_DIR: path.join(root, 'data'), RECORDINGS_DIR: path.join(root, 'recordings') });
const logger = createLogger({ level: 'info' });
const gateway = await createGateway(config, {
  logger,
  agentFactory: (call, sink) => {
    const fault = call.parameters['fault'];
    return fault ? new FaultyAgent(fault) : new EchoAgent(config.vad, sink);
  },
});
installFaultGuard(logger);
const { port } = await gateway.listen(0, '127.0.0.1');
process.stdout.write(`listening ${port}\n`);
