// Chooses the agent behind every call from configuration.
import type { AgentKind, Config } from '../config.js';
import type { AgentFactory } from './bridge.js';
import { DeepgramAgent } from './deepgram/agent.js';
import { EchoAgent } from './echo.js';
import { agentUnavailablePrompt } from './prompts.js';
import { LIVEKIT_OFF_THREAD } from './worker/hosted-agents.js';
import type { AgentWorkerPool } from './worker/pool.js';
import type { HostedAgentKind } from './worker/protocol.js';

export interface AgentSelection {
  kind: AgentKind;
  factory: AgentFactory;
}

export class AgentUnavailableError extends Error {}

/** The agent configured for this gateway. An agent that is configured but not built in fails start-up loudly. */
export function selectAgent(config: Config): AgentSelection {
  switch (config.agent.kind) {
    case 'echo':
      return { kind: 'echo', factory: (_call, sink) => new EchoAgent(config.vad, sink) };
    case 'deepgram': {
      // A transfer redirects the call through Twilio's REST API, so it needs credentials.
      const canTransfer = Boolean(config.twilio.accountSid && config.twilio.authToken);
      const options = {
        config: config.deepgram,
        systemPrompt: config.systemPrompt,
        transferNumber: canTransfer ? config.twilio.transferNumber : undefined,
      };
      agentUnavailablePrompt(); // read now, at start-up, rather than on a call that is failing
      return { kind: 'deepgram', factory: (call, sink) => new DeepgramAgent(options, call, sink) };
    }
    case 'livekit':
      // Its pipeline never runs on the media thread: configuredAgent hosts it in the worker pool.
      throw new AgentUnavailableError('AGENT_PROVIDER=livekit runs in the agent worker pool: start it through configuredAgent');
  }
}

/**
 * The agent configured for this gateway, heavy ones hosted in `pool`'s worker threads (loadConfig
 * guarantees the pool has at least one for the LiveKit pipeline). Rejects when the agent's code
 * cannot load, naming it.
 */
export async function configuredAgent(config: Config, pool: AgentWorkerPool): Promise<{ kind: string; factory: AgentFactory }> {
  if (config.agent.kind !== 'livekit') return selectAgent(config);
  agentUnavailablePrompt(); // read now, at start-up, rather than on a call that is failing
  return offThread(pool, LIVEKIT_OFF_THREAD);
}

/**
 * An agent run off the media thread, in the pool's worker threads (in-process when AGENT_WORKERS=0).
 * For agents heavy enough to delay other calls' frames; echo and deepgram stay in-process.
 */
export async function offThread(pool: AgentWorkerPool, kind: HostedAgentKind): Promise<{ kind: string; factory: AgentFactory }> {
  return { kind: kind.name, factory: await pool.factoryFor(kind) };
}
