// A housekeeping job run every so often in the background (sweeps of overdue records): the timer
// keeps no process alive, a run never overlaps the one before, and stopping waits for the run
// under way, so what it uses (a store) may close right after.
export interface Periodic {
  stop(): Promise<void>;
}

/** Runs `job` every `intervalMs`; a failure goes to `onError` and the next run comes as usual. */
export function runPeriodically(intervalMs: number, job: () => Promise<unknown>, onError: (err: unknown) => void): Periodic {
  let running: Promise<void> | undefined;
  const tick = (): void => {
    // A slow run (a busy database): this tick finds it still going and leaves it be.
    if (running) return;
    running = job()
      .then(() => undefined, onError)
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, intervalMs).unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
