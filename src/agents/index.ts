// Chooses the agent behind every call from configuration.
import type { AgentKind, Config } from '../config.js';
import type { Logger } from '../telemetry/logger.js';
import type { AgentFactory } from './bridge.js';
import { EchoAgent } from './echo.js';

export interface AgentSelection {
  kind: AgentKind;
  factory: AgentFactory;
}

export class AgentUnavailableError extends Error {}

/** The agent configured for this gateway. An agent that is configured but not built in fails start-up loudly. */
export function selectAgent(config: Config, _logger: Logger): AgentSelection {
  switch (config.agent.kind) {
    case 'echo':
      return { kind: 'echo', factory: (_call, sink) => new EchoAgent(config.vad, sink) };
    case 'deepgram':
    case 'livekit':
      throw new AgentUnavailableError(
        `AGENT_PROVIDER resolved to "${config.agent.kind}", which this build does not include yet; set AGENT_PROVIDER=echo`,
      );
  }
}
