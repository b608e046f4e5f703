// Agents the worker pool can host, each a HostedAgentKind naming its factory here. A new heavy
// agent adds its own factory export and kind the same way.
import type { HostedAgentFactory, HostedAgentKind } from './protocol.js';
import { EchoAgent } from '../echo.js';

export const hostedEcho: HostedAgentFactory = (_call, sink, config) => new EchoAgent(config.vad, sink);

/** The echo agent in a worker: cheap enough in-process, hosted off-thread for tests and trials. */
export const ECHO_OFF_THREAD: HostedAgentKind = { name: 'echo', module: import.meta.url, export: 'hostedEcho' };

/** Under tsx (tests, `npm start`) the sources are .ts; in a compiled build, .js. */
const sourceFile = (relative: string): string => new URL(import.meta.url.endsWith('.ts') ? `${relative}.ts` : `${relative}.js`, import.meta.url).href;

/**
 * The LiveKit pipeline, always off the media thread. Named by path rather than imported, so the
 * media thread never loads the framework and its plugins.
 */
export const LIVEKIT_OFF_THREAD: HostedAgentKind = { name: 'livekit', module: sourceFile('../livekit/hosted'), export: 'hostedLivekit' };
