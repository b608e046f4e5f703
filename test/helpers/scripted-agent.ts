// A tiny agent for tests: it says nothing by itself and hands its AgentSink to the test, which
// then speaks for it (transcript lines, latency figures) exactly as a real agent would.
import type { AgentBridge, AgentFactory, AgentSink, CallContext } from '../../src/agents/bridge.js';

export class ScriptedAgent implements AgentBridge {
  readonly kind = 'scripted';
  closed = false;

  constructor(
    readonly call: CallContext,
    readonly sink: AgentSink,
  ) {}

  async start(): Promise<void> {}
  pushCallerAudio(): void {}
  pushDtmf(): void {}
  utterancePlayed(): void {}
  async close(): Promise<void> {
    this.closed = true;
  }
}

/** An agent factory and the agents it made, newest last. */
export function scriptedAgents(): { factory: AgentFactory; agents: ScriptedAgent[] } {
  const agents: ScriptedAgent[] = [];
  return {
    agents,
    factory: (call, sink) => {
      const agent = new ScriptedAgent(call, sink);
      agents.push(agent);
      return agent;
    },
  };
}
