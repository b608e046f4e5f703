// The life of a benchmark's fake provider process (fake-agent-main.ts, fake-providers-main.ts):
// it prints one JSON line saying where it listens, and exits on SIGTERM, when its stdin closes (the
// benchmark is gone, however it died), and after BENCH_FAKE_MAX_S seconds at the latest.

const DEFAULT_MAX_S = 900;
/** Closing drops every session; a socket that will not close must not keep the process alive. */
const CLOSE_TIMEOUT_MS = 2000;

export interface FakeProcess {
  /** How its messages name it, e.g. "fake agent". */
  what: string;
  /** Stops every server it runs. */
  close(): Promise<unknown>;
  /** The one line it prints once it listens. */
  ready: Record<string, string>;
}

export function serveUntilTold(fake: FakeProcess): void {
  let closing = false;
  const shutDown = async (code: number): Promise<void> => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(code), CLOSE_TIMEOUT_MS).unref();
    await fake.close().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutDown(0));
  process.on('SIGINT', () => void shutDown(0));
  process.stdin.on('close', () => void shutDown(0));
  process.stdin.resume();
  const maxS = Number(process.env.BENCH_FAKE_MAX_S ?? DEFAULT_MAX_S);
  const lifetime = Number.isFinite(maxS) && maxS > 0 ? maxS : DEFAULT_MAX_S;
  setTimeout(() => {
    process.stderr.write(`${fake.what}: still running after ${lifetime} s; exiting\n`);
    void shutDown(1);
  }, lifetime * 1000).unref();
  process.stdout.write(`${JSON.stringify(fake.ready)}\n`);
}
