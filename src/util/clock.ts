// A wall clock with sub-millisecond resolution that worker threads share: performance.now() alone
// counts from each thread's own start, so a time taken in one thread means nothing in another.
import { performance } from 'node:perf_hooks';

/** Milliseconds since the epoch, fractional. */
export const epochMs = (): number => performance.timeOrigin + performance.now();
