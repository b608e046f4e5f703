// How long a record waits after a failed delivery: doubling from the first delay up to the
// longest, with jitter so records that failed together (the service was down) do not all come
// back at the same instant.

export interface RetryPolicy {
  minMs: number;
  maxMs: number;
}

/** Up to this share of a delay is added at random. */
export const JITTER = 0.2;

/** The delay after the `attempt`-th failed attempt (1 for the first); `random` in [0, 1). */
export function retryDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  // 2^30 already passes any sane maximum; the exponent is bounded so it never becomes Infinity.
  const doubled = policy.minMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30);
  const base = Math.min(doubled, policy.maxMs);
  return Math.round(base * (1 + JITTER * random()));
}
