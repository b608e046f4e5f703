// What the timeline marks, read from the recording itself so that each mark sits where the sound
// is: when each side spoke, each turn's gap (the caller stops, the agent starts), and barge-ins
// (the caller starts over the agent, whose audio the gateway then cuts). Pure: no DOM.

/** A stretch of speech on one channel, in seconds of the recording. */
export interface Segment {
  start: number;
  end: number;
}

/** The caller finished speaking at `from`; the agent was first heard at `to`. */
export interface TurnGap {
  from: number;
  to: number;
}

/** The caller started speaking at `callerStart` over the agent, whose audio stops at `agentCut`. */
export interface BargeIn {
  callerStart: number;
  agentCut: number;
}

export interface SpeechOptions {
  /** Analysis window (default 20 ms: one Twilio frame). */
  windowS?: number;
  /** RMS level that counts as speech, in dBFS (default -45). */
  thresholdDb?: number;
  /** Quieter stretches shorter than this stay inside a segment (default 0.3 s). */
  bridgeS?: number;
  /** Segments shorter than this are dropped as clicks (default 0.08 s). */
  minSpeechS?: number;
}

/** Speech segments of one channel, by windowed RMS energy. */
export function speechSegments(samples: Float32Array, sampleRate: number, options: SpeechOptions = {}): Segment[] {
  const window = Math.max(1, Math.round((options.windowS ?? 0.02) * sampleRate));
  const threshold = 10 ** ((options.thresholdDb ?? -45) / 20);
  const bridge = options.bridgeS ?? 0.3;
  const minSpeech = options.minSpeechS ?? 0.08;
  const raw: Segment[] = [];
  let open: number | undefined;
  for (let at = 0; at < samples.length; at += window) {
    const end = Math.min(samples.length, at + window);
    let sum = 0;
    for (let i = at; i < end; i++) sum += samples[i]! * samples[i]!;
    const loud = Math.sqrt(sum / (end - at)) >= threshold;
    if (loud && open === undefined) open = firstAbove(samples, at, end, threshold);
    if (!loud && open !== undefined) {
      raw.push({ start: open / sampleRate, end: lastAbove(samples, at - window, at, threshold) / sampleRate });
      open = undefined;
    }
  }
  if (open !== undefined) raw.push({ start: open / sampleRate, end: samples.length / sampleRate });
  const merged: Segment[] = [];
  for (const segment of raw) {
    const last = merged[merged.length - 1];
    if (last && segment.start - last.end < bridge) last.end = segment.end;
    else merged.push({ ...segment });
  }
  return merged.filter((segment) => segment.end - segment.start >= minSpeech);
}

/** The window's first sample louder than the threshold: a segment starts at the sound, not the window. */
function firstAbove(samples: Float32Array, from: number, to: number, threshold: number): number {
  for (let i = from; i < to; i++) if (Math.abs(samples[i]!) >= threshold) return i;
  return from;
}

/** Just past the window's last sample louder than the threshold. */
function lastAbove(samples: Float32Array, from: number, to: number, threshold: number): number {
  for (let i = to - 1; i >= Math.max(0, from); i--) if (Math.abs(samples[i]!) >= threshold) return i + 1;
  return to;
}

/** How long after the caller starts over the agent the agent's audio must stop for it to be a barge-in (the gateway's `clear`). */
const BARGE_IN_CUT_WITHIN_S = 1.5;
/** A reply that comes later than this is not drawn as the answer to the turn before it. */
const MAX_TURN_GAP_S = 10;

/** Each caller turn's end to the agent's next audio, when the agent answered within MAX_TURN_GAP_S. */
export function turnGaps(caller: Segment[], agent: Segment[]): TurnGap[] {
  const gaps: TurnGap[] = [];
  for (const [index, turn] of caller.entries()) {
    const reply = agent.find((segment) => segment.start >= turn.end);
    if (!reply || reply.start - turn.end > MAX_TURN_GAP_S) continue;
    // The caller spoke again before the agent answered: the gap belongs to the later turn.
    const next = caller[index + 1];
    if (next && next.start < reply.start) continue;
    gaps.push({ from: turn.end, to: reply.start });
  }
  return gaps;
}

/** The caller starting while the agent is heard, and the agent's audio ending soon after: the gateway cut it. */
export function bargeIns(caller: Segment[], agent: Segment[]): BargeIn[] {
  const found: BargeIn[] = [];
  for (const turn of caller) {
    const speaking = agent.find((segment) => segment.start < turn.start && turn.start < segment.end);
    if (speaking && speaking.end - turn.start <= BARGE_IN_CUT_WITHIN_S) found.push({ callerStart: turn.start, agentCut: speaking.end });
  }
  return found;
}
