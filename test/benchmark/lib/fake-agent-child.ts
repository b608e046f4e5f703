// Starts and stops the fake Deepgram agent process (fake-agent-main.ts) for the relay benchmark:
// `node --import tsx`, like the gateway, and ready once it has printed the URL it listens on.
import { spawn, type ChildProcess } from 'node:child_process';
import { ConsoleTail, REPO_ROOT, stopChild } from './gateway-child.js';

const ENTRY = 'test/benchmark/lib/fake-agent-main.ts';
/** The fake's own URL path for the converse socket (as Deepgram's). */
export const CONVERSE_PATH = '/v1/agent/converse';

export interface FakeAgentChild {
  readonly pid: number;
  /** ws://127.0.0.1:PORT/v1/agent/converse */
  readonly converseUrl: string;
  readonly console: ConsoleTail;
  stop(timeoutMs: number): Promise<{ exit: number | string; killed: boolean }>;
}

export interface FakeAgentChildOptions {
  /** The key the fake requires as `Authorization: Token <key>`. */
  apiKey: string;
  /** The fake exits by itself after this long, whatever happens to the benchmark. */
  maxLifetimeS: number;
  startTimeoutMs: number;
}

export async function startFakeAgentChild(opts: FakeAgentChildOptions): Promise<FakeAgentChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    env: { ...process.env, DEEPGRAM_API_KEY: opts.apiKey, BENCH_FAKE_MAX_S: String(opts.maxLifetimeS) },
    cwd: REPO_ROOT,
    // stdin stays open for the fake's lifetime: it exits when it closes.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const tail = new ConsoleTail();
  child.stderr!.on('data', (chunk: Buffer) => tail.feed(chunk));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  let url: string;
  try {
    url = await readUrl(child, exited, opts.startTimeoutMs);
  } catch (err) {
    child.kill('SIGKILL');
    const output = tail.lines.slice(-10).join('\n    ');
    throw new Error(`${(err as Error).message}${output ? `\n  fake agent output:\n    ${output}` : ''}`);
  }
  child.stdout!.on('data', (chunk: Buffer) => tail.feed(chunk));
  return {
    pid: child.pid!,
    converseUrl: `${url}${CONVERSE_PATH}`,
    console: tail,
    stop: (timeoutMs) => {
      child.stdin!.end();
      return stopChild(child, exited, timeoutMs);
    },
  };
}

/** The first stdout line, {"url": ...}, within the timeout; rejects if the fake exits first. */
function readUrl(child: ChildProcess, exited: Promise<number | string>, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`the fake agent printed no URL within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      const newline = text.indexOf('\n');
      if (newline < 0) return;
      const url = urlOf(text.slice(0, newline));
      finish(url ?? new Error(`the fake agent printed no URL: ${text.slice(0, 200)}`));
    };
    function finish(result: string | Error): void {
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      if (typeof result === 'string') resolve(result);
      else reject(result);
    }
    child.stdout!.on('data', onData);
    void exited.then((code) => finish(new Error(`the fake agent exited during start-up (${code})`)));
  });
}

function urlOf(line: string): string | undefined {
  try {
    const url = (JSON.parse(line) as { url?: unknown }).url;
    return typeof url === 'string' ? url : undefined;
  } catch {
    return undefined;
  }
}
