// What the Node.js runtime costs a LiveKit pipeline. LiveKit Agents keeps its task and session
// context in AsyncLocalStorage, and before Node 24 that store is carried by async hooks: a promise
// hook runs for every promise the framework makes (several per 100 ms of a call's audio). Node 24
// carries it in the async context frame instead. Measured here with `npm run bench -- --mode
// livekit --calls 20` on one 2-core machine: 2.2-2.4 % of a core per pipeline call on Node 20,
// 1.45-1.81 % (median 1.61 %) on Node 24; the Deepgram and echo agents use no such store per frame.

/** The Node version from which AsyncLocalStorage runs on the async context frame by default. */
export const CONTEXT_FRAME_NODE_MAJOR = 24;

export interface RuntimeFacts {
  /** `process.version`, e.g. "v20.20.2". */
  nodeVersion: string;
  /** Whether this process runs LiveKit pipelines (phone calls on AGENT_PROVIDER=livekit, or a room agent worker). */
  runsPipelines: boolean;
  /** `process.execArgv` and NODE_OPTIONS: Node 22 and 23 turn the context frame on with a flag. */
  nodeFlags: readonly string[];
}

/** A start-up warning for an operator whose runtime makes pipelines dearer; undefined when there is none. */
export function runtimeAdvice({ nodeVersion, runsPipelines, nodeFlags }: RuntimeFacts): string | undefined {
  if (!runsPipelines) return undefined;
  const major = Number(/^v?(\d+)\./.exec(nodeVersion)?.[1]);
  if (!Number.isFinite(major)) return undefined;
  const frameOn = major >= CONTEXT_FRAME_NODE_MAJOR ? !nodeFlags.includes('--no-async-context-frame') : nodeFlags.includes('--experimental-async-context-frame');
  if (frameOn) return undefined;
  return (
    `Node ${nodeVersion} carries AsyncLocalStorage through promise hooks, which LiveKit Agents runs for every promise it makes: ` +
    `a pipeline call costs about 40 % more CPU than on Node ${CONTEXT_FRAME_NODE_MAJOR} (measured: 2.2-2.4 % against 1.6 % of a core). ` +
    `Run the gateway on Node ${CONTEXT_FRAME_NODE_MAJOR} or newer${major === 22 || major === 23 ? ', or start it with --experimental-async-context-frame' : ''}.`
  );
}

/** This process's flags as Node reads them: its command line, then NODE_OPTIONS. */
export function nodeFlags(env: NodeJS.ProcessEnv = process.env, execArgv: readonly string[] = process.execArgv): string[] {
  return [...execArgv, ...(env.NODE_OPTIONS ?? '').split(/\s+/).filter(Boolean)];
}
