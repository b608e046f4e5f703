// A hosted bridge, built inside an agent worker, whose own caller-audio queue holds `QUEUED_FRAMES`
// frames and is never read: every frame after those is dropped and counted, as the LiveKit
// pipeline's input does when its session falls the queue behind. It says nothing to the caller.
import type { AgentBridge } from '../../src/agents/bridge.js';
import type { DropsCallerFrames, HostedAgentFactory, HostedAgentKind } from '../../src/agents/worker/protocol.js';

export const QUEUED_FRAMES = 10;

class DroppingAgent implements AgentBridge, DropsCallerFrames {
  readonly kind = 'dropping-test';
  private frames = 0;
  droppedFrames = 0;

  async start(): Promise<void> {}

  pushCallerAudio(): void {
    if (++this.frames > QUEUED_FRAMES) this.droppedFrames++;
  }

  pushDtmf(): void {}
  utterancePlayed(): void {}
  async close(): Promise<void> {}
}

export const droppingAgent: HostedAgentFactory = () => new DroppingAgent();

export const DROPPING_AGENT: HostedAgentKind = { name: 'dropping-test', module: import.meta.url, export: 'droppingAgent' };
