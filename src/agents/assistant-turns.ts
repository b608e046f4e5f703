// The agent's words, matched to what the caller actually heard. An agent turn's text arrives
// before or with its audio; Playback later reports each utterance as played in full or cut by a
// barge-in, in the order they were sent. The transcript line is written then, cut to the share
// of the audio that played.
import type { UtterancePlayed } from './bridge.js';

export interface HeardLine {
  text: string;
  interrupted: boolean;
}

interface Turn {
  texts: string[];
  voiced: boolean;
  /** The agent sent all of it (AgentAudioDone); false when a barge-in cut it off mid-send. */
  complete: boolean;
}

/**
 * Speaking rate used to guess how long a turn cut off mid-send would have lasted (Deepgram's Aura
 * voices speak about 2.5 to 3 words a second; the reply fixture runs at 2.75).
 */
export const WORDS_PER_SECOND = 2.7;

/** The first words of `text`, in proportion to how much of its audio played. */
export function cutToHeard(text: string, playedMs: number, totalMs: number): string {
  const words = text.split(/\s+/).filter(Boolean);
  if (totalMs <= 0 || playedMs >= totalMs) return words.join(' ');
  const keep = Math.floor(words.length * Math.max(0, playedMs / totalMs));
  return words.slice(0, keep).join(' ');
}

export class AssistantTurns {
  private current: Turn | undefined;
  /** Voiced turns waiting for Playback's report, oldest first. */
  private readonly awaitingPlayback: Turn[] = [];

  private open(): Turn {
    return (this.current ??= { texts: [], voiced: false, complete: false });
  }

  /** Voiced turns the caller may still be hearing: Playback has not reported on them yet. */
  get awaitingReports(): number {
    return this.awaitingPlayback.length;
  }

  text(content: string): void {
    this.open().texts.push(content);
  }

  audio(): void {
    this.open().voiced = true;
  }

  /**
   * The agent finished (or was cut off in) the current turn. A turn with no audio was never
   * heard, so its line is returned now; a voiced one waits for its playback report.
   */
  close(complete: boolean): HeardLine | undefined {
    const turn = this.current;
    this.current = undefined;
    if (!turn) return undefined;
    turn.complete = complete;
    if (turn.voiced) {
      this.awaitingPlayback.push(turn);
      return undefined;
    }
    return turn.texts.length > 0 ? { text: turn.texts.join(' '), interrupted: false } : undefined;
  }

  /** Playback's report on the oldest voiced turn: its line, cut to what was heard. */
  played(report: UtterancePlayed): HeardLine | undefined {
    const turn = this.awaitingPlayback.shift();
    if (!turn || turn.texts.length === 0) return undefined;
    const text = turn.texts.join(' ');
    if (turn.complete && !report.interrupted) return { text, interrupted: false };
    // Audio of a turn cut off mid-send is only part of it: judge by the length of the words.
    const words = text.split(/\s+/).filter(Boolean).length;
    const totalMs = turn.complete ? report.totalMs : Math.max(report.totalMs, (words / WORDS_PER_SECOND) * 1000);
    return { text: cutToHeard(text, report.playedMs, totalMs), interrupted: true };
  }

  /** At the end of the call: lines for turns that never got a report, as sent. */
  flush(): HeardLine[] {
    this.close(true);
    return this.awaitingPlayback.splice(0).flatMap((t) => (t.texts.length ? [{ text: t.texts.join(' '), interrupted: false }] : []));
  }
}
