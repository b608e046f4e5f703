// Turn-taking for a simulated caller: wait for the agent to finish speaking before talking, the way
// a polite caller does. Used by scripts/simulate-call.ts; judged on the caller's own clock, so a run
// at --speed 10 waits ten times less real time.
import type { FakeTwilioCaller } from './twilio-caller.js';

export type TurnOutcome =
  /** The agent spoke and its utterance played to the end (a mark came back). */
  | 'heard'
  /** The agent did not start speaking within `startWithinMs` (e.g. the echo agent has no greeting). */
  | 'silent'
  /** The agent started but no mark came back within `timeoutMs`. */
  | 'timeout'
  /** The gateway closed the socket, or the caller hung up. */
  | 'call_over';

export interface TurnWait {
  /** Call time after which the agent's turn counts (e.g. when the caller stopped speaking). */
  sinceMs: number;
  /** Give up when no agent audio has arrived this long after `sinceMs`; default: wait up to `timeoutMs`. */
  startWithinMs?: number;
  /** Give up this long after `sinceMs`. */
  timeoutMs: number;
  /** Silence streamed between checks (Twilio sends frames even while the caller is quiet). */
  pollMs?: number;
}

const DEFAULT_POLL_MS = 100;

/** The call is over: the gateway closed the socket, or `stop` went out. */
export function callOver(caller: FakeTwilioCaller): boolean {
  return caller.events.some((e) => e.kind === 'closed' || e.kind === 'sent-stop');
}

/** Streams silence until the agent's turn after `sinceMs` has been heard in full, or a limit is met. */
export async function awaitAgentTurn(caller: FakeTwilioCaller, wait: TurnWait): Promise<TurnOutcome> {
  const { sinceMs, timeoutMs } = wait;
  const startWithinMs = wait.startWithinMs ?? timeoutMs;
  const after = (kind: 'media' | 'mark-echoed') => caller.events.some((e) => e.kind === kind && e.at > sinceMs);
  for (;;) {
    if (after('mark-echoed')) return 'heard';
    if (callOver(caller)) return 'call_over';
    const waited = caller.now() - sinceMs;
    if (!after('media') && waited >= startWithinMs) return 'silent';
    if (waited >= timeoutMs) return 'timeout';
    await caller.streamSilence(wait.pollMs ?? DEFAULT_POLL_MS);
  }
}
