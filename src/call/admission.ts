// Admission of a media stream at its `start`: whoever knows what the stream may be (its URL's
// token, the task it names) says yes or no; CallSession only acts on the verdict.

/** What a `start` claims the stream is. */
export interface StreamStart {
  callSid: string;
  streamSid: string;
  /** From `customParameters.taskId`, when the stream names a task. */
  taskId: string | undefined;
}

export type Admission = { ok: true } | { ok: false; reason: string };

export const ADMITTED: Admission = { ok: true };

export const refused = (reason: string): Admission => ({ ok: false, reason });

/** The first refusal of several checks, in order; each runs only if the ones before admitted. */
export function admitAll(...checks: Array<(start: StreamStart) => Admission>): (start: StreamStart) => Admission {
  return (start) => {
    for (const check of checks) {
      const verdict = check(start);
      if (!verdict.ok) return verdict;
    }
    return ADMITTED;
  };
}
