// A hosted agent that takes caller audio and says nothing: the worker side of the hot-path case
// for WorkerBridge, so the figure is the media thread's cost alone and the worker keeps up.
import type { AgentBridge } from '../../../src/agents/bridge.js';
import type { HostedAgentFactory, HostedAgentKind } from '../../../src/agents/worker/protocol.js';

class SilentAgent implements AgentBridge {
  readonly kind = 'silent';
  bytes = 0;
  async start(): Promise<void> {}
  pushCallerAudio(frame: Buffer): void {
    this.bytes += frame.length;
  }
  pushDtmf(): void {}
  utterancePlayed(): void {}
  async close(): Promise<void> {}
}

export const hostedSilentAgent: HostedAgentFactory = () => new SilentAgent();

export const SILENT_OFF_THREAD: HostedAgentKind = { name: 'silent', module: import.meta.url, export: 'hostedSilentAgent' };
