// Agent worker threads yield the CPU to the media thread. On a loaded machine the kernel then runs
// the thread that carries every call's frames first, and a pipeline's turn waits a little instead:
// a late reply is a pause, a late frame is a gap in every call's audio.
// Linux addresses one thread of a process by its task id in setpriority(2); /proc/thread-self
// names the calling thread's id. Elsewhere the thread keeps the process's priority.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

export type PriorityOutcome = { ok: true; tid: number } | { ok: false; reason: string };

/** Sets the calling thread's nice value (a higher one yields more); never throws. */
export function lowerThreadPriority(nice: number): PriorityOutcome {
  let tid: number;
  try {
    tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
  } catch {
    return { ok: false, reason: 'this platform does not name threads in /proc/thread-self' };
  }
  try {
    setPriority(tid, nice);
    return { ok: true, tid };
  } catch (err) {
    return { ok: false, reason: (err as Error).message };
  }
}
