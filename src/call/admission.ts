// Admission of a media stream at its `start`: whoever knows what the stream may be (its URL's
// token, the task it names) says yes or no; CallSession only acts on the verdict. A check may
// answer at once (a token) or later (a task in the store): the session holds the stream's frames
// until the verdict comes.

/** What a `start` claims the stream is. */
export interface StreamStart {
  callSid: string;
  streamSid: string;
  /** From `customParameters.taskId`, when the stream names a task. */
  taskId: string | undefined;
  /** From `customParameters.callId`: the stream claims to be a call created beforehand (a browser's). */
  callId?: string;
}

/** The agent's prompt and greeting for this call, when its task has its own. */
export interface CallOverrides {
  prompt?: string;
  greeting?: string;
}

/**
 * `callId`: the check vouches that the stream is this call, created before it streamed (a browser
 * call); without it the stream is a new call with an id of its own.
 * `overrides` come with the verdict because the check that admits a task's stream reads the
 * task anyway: one store read at `start`, not two.
 */
export type Admission = { ok: true; overrides?: CallOverrides; callId?: string } | { ok: false; reason: string };

export type AdmissionCheck = (start: StreamStart) => Admission | Promise<Admission>;

export const ADMITTED: Admission = { ok: true };

export const refused = (reason: string): Admission => ({ ok: false, reason });

/**
 * The first refusal of several checks, in order; each runs only if the ones before admitted.
 * Overrides of the admitting checks are merged, later ones winning. Synchronous while every check
 * answers at once, so a stream with nothing to look up starts in the tick of its `start`.
 */
export function admitAll(...checks: AdmissionCheck[]): AdmissionCheck {
  return (start) => next(checks, 0, start, ADMITTED);
}

function next(checks: AdmissionCheck[], index: number, start: StreamStart, sofar: Admission): Admission | Promise<Admission> {
  for (let i = index; i < checks.length && sofar.ok; i++) {
    const verdict = checks[i]!(start);
    if (verdict instanceof Promise) return verdict.then((v) => next(checks, i + 1, start, merge(sofar, v)));
    sofar = merge(sofar, verdict);
  }
  return sofar;
}

function merge(sofar: Admission, verdict: Admission): Admission {
  if (!sofar.ok || !verdict.ok) return sofar.ok ? verdict : sofar;
  if (verdict.overrides === undefined && verdict.callId === undefined) return sofar;
  const callId = verdict.callId ?? sofar.callId;
  return { ok: true, overrides: { ...sofar.overrides, ...verdict.overrides }, ...(callId !== undefined && { callId }) };
}
