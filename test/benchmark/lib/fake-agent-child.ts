// Starts and stops a fake provider process for a benchmark: `node --import tsx`, like the gateway,
// and ready once it has printed its first stdout line, a JSON object saying where it listens. The
// fake Deepgram agent (fake-agent-main.ts) prints {"url": ...}; the LiveKit pipeline's stand-ins
// (fake-providers-main.ts) print one base URL per provider.
import { spawn, type ChildProcess } from 'node:child_process';
import { ConsoleTail, REPO_ROOT, stopChild } from './gateway-child.js';

const ENTRY = 'test/benchmark/lib/fake-agent-main.ts';
/** The fake's own URL path for the converse socket (as Deepgram's). */
export const CONVERSE_PATH = '/v1/agent/converse';

/** A started fake process: what it printed when ready, its console, and how to stop it. */
export interface FakeChild {
  readonly pid: number;
  /** The JSON object of its first stdout line. */
  readonly ready: Record<string, unknown>;
  readonly console: ConsoleTail;
  stop(timeoutMs: number): Promise<{ exit: number | string; killed: boolean }>;
}

export interface FakeAgentChild extends Omit<FakeChild, 'ready'> {
  /** ws://127.0.0.1:PORT/v1/agent/converse */
  readonly converseUrl: string;
}

export interface FakeAgentChildOptions {
  /** The key the fake requires as `Authorization: Token <key>`. */
  apiKey: string;
  /** The fake exits by itself after this long, whatever happens to the benchmark. */
  maxLifetimeS: number;
  startTimeoutMs: number;
}

export async function startFakeAgentChild(opts: FakeAgentChildOptions): Promise<FakeAgentChild> {
  const fake = await startFakeChild({
    entry: ENTRY,
    what: 'the fake agent',
    env: { DEEPGRAM_API_KEY: opts.apiKey },
    maxLifetimeS: opts.maxLifetimeS,
    startTimeoutMs: opts.startTimeoutMs,
  });
  const url = fake.ready.url;
  if (typeof url !== 'string') {
    await fake.stop(1000);
    throw new Error(`the fake agent printed no URL: ${JSON.stringify(fake.ready).slice(0, 200)}`);
  }
  return { pid: fake.pid, converseUrl: `${url}${CONVERSE_PATH}`, console: fake.console, stop: fake.stop };
}

export interface FakeChildOptions {
  /** The script to run, from the repository's root. */
  entry: string;
  /** How errors name it, e.g. "the fake agent". */
  what: string;
  /** Environment over the benchmark's own. */
  env: Record<string, string>;
  /** The fake exits by itself after this long (BENCH_FAKE_MAX_S), whatever happens to the benchmark. */
  maxLifetimeS: number;
  startTimeoutMs: number;
}

export async function startFakeChild(opts: FakeChildOptions): Promise<FakeChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', opts.entry], {
    env: { ...process.env, ...opts.env, BENCH_FAKE_MAX_S: String(opts.maxLifetimeS) },
    cwd: REPO_ROOT,
    // stdin stays open for the fake's lifetime: it exits when it closes.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const tail = new ConsoleTail();
  child.stderr!.on('data', (chunk: Buffer) => tail.feed(chunk));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let ready: Record<string, unknown>;
  try {
    ready = await readReadyLine(child, exited, opts.startTimeoutMs, opts.what);
  } catch (err) {
    child.kill('SIGKILL');
    const output = tail.lines.slice(-10).join('\n    ');
    throw new Error(`${(err as Error).message}${output ? `\n  ${opts.what} output:\n    ${output}` : ''}`);
  }
  child.stdout!.on('data', (chunk: Buffer) => tail.feed(chunk));
  return {
    pid: child.pid!,
    ready,
    console: tail,
    stop: (timeoutMs) => {
      child.stdin!.end();
      return stopChild(child, exited, timeoutMs);
    },
  };
}

/** The first stdout line as a JSON object, within the timeout; rejects if the fake exits first. */
function readReadyLine(child: ChildProcess, exited: Promise<number | string>, timeoutMs: number, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`${what} printed nothing within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      const ready = objectOf(text.slice(0, newline));
      finish(ready ?? new Error(`${what} printed no JSON object: ${text.slice(0, 200)}`));
    };
    function finish(result: Record<string, unknown> | Error): void {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      if (result instanceof Error) reject(result);
      else resolve(result);
    }
    child.stdout!.on('data', onData);
    void exited.then((code) => finish(new Error(`${what} exited during start-up (${code})`)));
  });
}

function objectOf(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
