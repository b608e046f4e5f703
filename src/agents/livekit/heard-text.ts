// The text of one reply segment, as the framework's transcription output receives it, and the part
// of it the caller heard. Without LiveKit's RoomIO nothing syncs text to playback, so an
// interrupted reply would enter the chat context (and the transcript) in full: we cut it here,
// by the TTS's word timings when it gives them, else in proportion to the audio played.
import { voice } from '@livekit/agents';
import { WORDS_PER_SECOND, cutToHeard } from '../assistant-turns.js';

/** A timed piece: `startTime`/`endTime` are seconds into the segment's audio. */
interface TimedPiece {
  text: string;
  endsAtSec: number;
}

export class SegmentText {
  private text = '';
  /** Word timings, kept while every piece has one; null once a piece came without. */
  private timed: TimedPiece[] | null = [];
  /** The transcription output flushed it: no more text will come. */
  ended = false;
  /** An audio segment took it (one text per audio segment). */
  claimed = false;

  add(piece: string | voice.TimedString): void {
    if (typeof piece === 'string') {
      this.text += piece;
      this.timed = null;
      return;
    }
    this.text += piece.text;
    const endsAtSec = piece.endTime ?? piece.startTime;
    if (endsAtSec === undefined) this.timed = null;
    else this.timed?.push({ text: piece.text, endsAtSec });
  }

  get full(): string {
    return this.text;
  }

  /**
   * What the caller heard of it after `playedMs` of its audio. `totalMs` is the audio the segment
   * has in all; `complete` says whether that is all of its text (false when the reply was cut
   * while still being synthesized, so the words beyond the audio sent were never voiced).
   */
  heard(playedMs: number, totalMs: number, complete: boolean): string {
    if (this.timed && this.timed.length > 0) return this.heardByTimings(playedMs / 1000);
    const words = this.text.split(/\s+/).filter(Boolean).length;
    const spokenMs = complete ? totalMs : Math.max(totalMs, (words / WORDS_PER_SECOND) * 1000);
    return cutToHeard(this.text, playedMs, spokenMs);
  }

  /** The pieces whose word had ended by the played position. */
  private heardByTimings(playedSec: number): string {
    let heard = '';
    for (const piece of this.timed!) {
      if (piece.endsAtSec > playedSec) break;
      heard += piece.text;
    }
    return heard.trim();
  }
}
