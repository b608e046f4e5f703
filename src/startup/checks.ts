// Start-up faults an operator fixes in the configuration: a folder the gateway cannot write, a port
// another process holds. Each becomes one StartupError line that names the variable, printed once
// by main.ts, instead of an `ENOENT ... mkdir` or a stack trace.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export class StartupError extends Error {
  constructor(
    message: string,
    /** 78 (EX_CONFIG) when a setting is wrong; 1 otherwise. */
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'StartupError';
  }
}

const EX_CONFIG = 78;

const codeOf = (err: unknown): string =>
  String((err as { code?: unknown }).code ?? (err instanceof Error ? err.message : err));

/**
 * Creates each folder if needed and proves it writable by creating and removing a file in it
 * (as root, permission bits say nothing: only a real write does). Throws for the first one that
 * is not, e.g. "RECORDINGS_DIR=/srv/rec is not writable: ENOTDIR". Synchronous: start-up only.
 */
export function assertWritableDirs(dirs: ReadonlyArray<readonly [variable: string, dir: string]>): void {
  for (const [variable, dir] of dirs) {
    const probe = path.join(dir, `.write-check-${process.pid}`);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(probe, '');
      rmSync(probe, { force: true });
    } catch (err) {
      throw new StartupError(`${variable}=${dir} is not writable: ${codeOf(err)}`, EX_CONFIG);
    }
  }
}

/** A listen() failure as one line naming the port and PORT. */
export function listenError(err: unknown, port: number): Error {
  const code = codeOf(err);
  if (code === 'EADDRINUSE') return new StartupError(`port ${port} is already in use (PORT): is another gateway running?`, 1);
  if (code === 'EACCES') return new StartupError(`port ${port} needs privileges this process does not have (PORT): choose one above 1023`, EX_CONFIG);
  return new StartupError(`could not listen on port ${port} (PORT): ${code}`, 1);
}

/** One line on stderr, once; a StartupError says which setting to fix and picks the exit code. */
export function exitOnStartFailure(err: Error): never {
  console.error(`Could not start the gateway: ${err.message}`);
  process.exit(err instanceof StartupError ? err.exitCode : 1);
}
