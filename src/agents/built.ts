// Which agents this build contains. Kept apart from the agents themselves so the configuration can
// resolve `AGENT_PROVIDER=auto` without loading any agent's code.
import type { AgentKind } from '../config.js';

export const BUILT_AGENTS: ReadonlySet<AgentKind> = new Set<AgentKind>(['echo', 'deepgram', 'livekit']);
