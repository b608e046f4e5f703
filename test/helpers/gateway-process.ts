// Runs the real entry point (src/main.ts) as a child process, the way an operator starts the
// gateway, so tests can kill it, start a second one beside it, and read what it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

export interface GatewayProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  readonly wsUrl: string;
  stdout(): string;
  stderr(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Spawns the gateway with only `env` (plus PATH and HOME) in a scratch working directory, so no
 * `.env` of the developer's leaks in. PORT must be in `env`.
 */
export function spawnGateway(env: Record<string, string>): GatewayProcess {
  const child = spawn(process.execPath, ['--import', TSX, MAIN], {
    cwd: mkdtempSync(path.join(os.tmpdir(), 'gateway-cwd-')),
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const port = env['PORT'];
  return { child, baseUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/twilio/media-stream`, stdout: () => out, stderr: () => err, exited };
}

/** Spawns the gateway and waits until /health answers. */
export async function startGatewayProcess(env: Record<string, string>, timeoutMs = 20_000): Promise<GatewayProcess> {
  const gw = spawnGateway(env);
  let gone = false;
  void gw.exited.then(() => (gone = true));
  for (const until = Date.now() + timeoutMs; Date.now() < until && !gone; ) {
    const ok = await fetch(`${gw.baseUrl}/health`).then((r) => r.ok, () => false);
    if (ok) return gw;
    await new Promise((r) => setTimeout(r, 50));
  }
  gw.child.kill('SIGKILL');
  throw new Error(`the gateway did not start: ${gw.stderr() || gw.stdout()}`);
}
