// The gateway under test, run as a child process (`node --import tsx src/main.ts`) so its CPU and
// memory are measured apart from the load generator. Anything else that serves the media stream the
// same way (the bare relay the Deepgram benchmark compares with) runs and is measured through here
// too, by its own entry script. Everything here is bounded in time.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const HOST = '127.0.0.1';
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HEALTH_POLL_MS = 100;
/** Lines of the child's console output kept for diagnosis. */
const KEPT_LINES = 40;

/** A port that was free a moment ago: listen on 0, note the port, close. */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, HOST, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not read the free port');
  return address.port;
}

/** The child's console, kept short: the last lines and how many warnings and errors it logged. */
export class ConsoleTail {
  readonly lines: string[] = [];
  warnings = 0;
  errors = 0;
  private partial = '';

  feed(chunk: Buffer): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.add(line);
  }

  /** Forget start-up chatter (e.g. the unsigned-webhook warning) before the measured run. */
  resetCounts(): void {
    this.warnings = 0;
    this.errors = 0;
  }

  private add(line: string): void {
    if (line.trim() === '') return;
    // The console format is "<iso time> <level> <message> k=v ...".
    const level = /^\S+ (\w+)/.exec(line)?.[1];
    if (level === 'warn') this.warnings++;
    else if (level === 'error') this.errors++;
    this.lines.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.lines.length > KEPT_LINES) this.lines.shift();
  }
}

export interface GatewayChild {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  readonly wsUrl: string;
  readonly console: ConsoleTail;
  /** Resolves with the exit code (or signal name) once the child has exited. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. */
  stop(timeoutMs: number): Promise<{ exit: number | string; killed: boolean }>;
}

export interface StartOptions {
  env: Record<string, string>;
  /** Script to run, relative to the repository root. Default: the gateway, src/main.ts. */
  entry?: string;
  /** What the child is called in error messages. Default: the gateway. */
  label?: string;
  /** How long to wait for GET /health to answer. */
  startTimeoutMs: number;
  /** Node flags for the child, before the entry (e.g. --cpu-prof --cpu-prof-dir=DIR to profile it). */
  nodeArgs?: readonly string[];
  /** Run the child on these CPUs only (a taskset list such as "0"); default: wherever the kernel likes. */
  cpus?: string;
}

export async function startGatewayChild(opts: StartOptions): Promise<GatewayChild> {
  const port = await findFreePort();
  const label = opts.label ?? 'the gateway';
  const argv = [...(opts.nodeArgs ?? []), '--import', 'tsx', opts.entry ?? 'src/main.ts'];
  // taskset execs node in place, so the child's pid is node's own.
  const [command, args] = opts.cpus === undefined ? [process.execPath, argv] : ['taskset', ['-c', opts.cpus, process.execPath, ...argv]];
  const child = spawn(command, args, {
    env: { ...process.env, ...opts.env, PORT: String(port) },
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = new ConsoleTail();
  child.stdout!.on('data', (chunk: Buffer) => tail.feed(chunk));
  child.stderr!.on('data', (chunk: Buffer) => tail.feed(chunk));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const baseUrl = `http://${HOST}:${port}`;
  try {
    await waitForHealth(baseUrl, child, exited, opts.startTimeoutMs, label);
  } catch (err) {
    child.kill('SIGKILL');
    const output = tail.lines.slice(-10).join('\n    ');
    throw new Error(`${(err as Error).message}${output ? `\n  ${label}'s output:\n    ${output}` : ''}`);
  }
  return {
    pid: child.pid!,
    port,
    baseUrl,
    wsUrl: `ws://${HOST}:${port}/twilio/media-stream`,
    console: tail,
    exited,
    stop: (timeoutMs) => stopChild(child, exited, timeoutMs),
  };
}

async function waitForHealth(baseUrl: string, child: ChildProcess, exited: Promise<number | string>, timeoutMs: number, label: string): Promise<void> {
  let exit: number | string | undefined;
  void exited.then((code) => (exit = code));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exit !== undefined) throw new Error(`${label} exited during start-up (${exit})`);
    if (await healthAnswers(baseUrl)) return;
    await sleep(HEALTH_POLL_MS);
  }
  throw new Error(`${label} (pid ${child.pid}) did not answer GET /health within ${timeoutMs} ms`);
}

async function healthAnswers(baseUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(1000) });
    return res.ok;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL if the child has not exited within `timeoutMs`. */
export async function stopChild(child: ChildProcess, exited: Promise<number | string>, timeoutMs: number): Promise<{ exit: number | string; killed: boolean }> {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  // Aborted once the child exits, so a quick exit leaves no timer holding this process open.
  const cancel = new AbortController();
  const timer = sleep(timeoutMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
  const first = await Promise.race([exited, timer]);
  cancel.abort();
  if (first !== 'timeout') return { exit: first, killed: false };
  child.kill('SIGKILL');
  return { exit: await exited, killed: true };
}
