// Agents the worker pool can host, each a HostedAgentKind naming its factory here. A new heavy
// agent (the LiveKit pipeline) adds its own factory export and kind the same way.
import type { HostedAgentFactory, HostedAgentKind } from './protocol.js';
import { EchoAgent } from '../echo.js';

export const hostedEcho: HostedAgentFactory = (_call, sink, config) => new EchoAgent(config.vad, sink);

/** The echo agent in a worker: cheap enough in-process, hosted off-thread for tests and trials. */
export const ECHO_OFF_THREAD: HostedAgentKind = { name: 'echo', module: import.meta.url, export: 'hostedEcho' };
