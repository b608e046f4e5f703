// What the Node.js runtime costs a LiveKit pipeline. LiveKit Agents keeps its task and session
// context in AsyncLocalStorage, and before Node 24 that store is carried by async hooks: a promise
// hook runs for every promise the framework makes (several per 100 ms of a call's audio). Node 24
// carries it in the async context frame instead. Measured here with `npm run bench -- --mode
// livekit --calls 20` on one 2-core machine: 2.2-2.4 % of a core per pipeline call on Node 20,
// 1.45-1.81 % (median 1.61 %) on Node 24; the Deepgram and echo agents use no such store per frame.
import { AsyncLocalStorage } from 'node:async_hooks';

/** The Node version from which AsyncLocalStorage runs on the async context frame by default. */
export const CONTEXT_FRAME_NODE_MAJOR = 24;

/**
 * Whether this Node carries AsyncLocalStorage through async hooks. Asked of the implementation
 * itself rather than of flags (Node 22 and 23 turn the frame on with one, 24 off with another,
 * from the command line or NODE_OPTIONS): the hook-based one propagates a store from resource to
 * resource with `_propagate`, the frame-based one has no such method. A wrong answer from a
 * future Node only changes one start-up warning.
 */
export function storeRunsOnHooks(): boolean {
  return typeof (AsyncLocalStorage.prototype as { _propagate?: unknown })._propagate === 'function';
}

export interface RuntimeFacts {
  /** `process.version`, e.g. "v20.20.2". */
  nodeVersion: string;
  /** Whether this process runs LiveKit pipelines (phone calls on AGENT_PROVIDER=livekit, or a room agent worker). */
  runsPipelines: boolean;
  /** storeRunsOnHooks() */
  storeOnHooks: boolean;
}

/** A start-up warning for an operator whose runtime makes pipelines dearer; undefined when there is none. */
export function runtimeAdvice({ nodeVersion, runsPipelines, storeOnHooks }: RuntimeFacts): string | undefined {
  if (!runsPipelines || !storeOnHooks) return undefined;
  const major = Number(/^v?(\d+)\./.exec(nodeVersion)?.[1]);
  const flag = major === 22 || major === 23 ? ', or start it with --experimental-async-context-frame' : '';
  return (
    `Node ${nodeVersion} carries AsyncLocalStorage through promise hooks, which LiveKit Agents runs for every promise it makes: ` +
    `a pipeline call costs about 40 % more CPU than on Node ${CONTEXT_FRAME_NODE_MAJOR} (measured: 2.2-2.4 % against 1.6 % of a core). ` +
    `Run the gateway on Node ${CONTEXT_FRAME_NODE_MAJOR} or newer${flag}.`
  );
}
