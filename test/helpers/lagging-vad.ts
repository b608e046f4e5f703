// A VAD that hears the caller late: the real one, fed each frame `lagMs` after it arrives. It stands
// for the VAD on a busy CPU, which was seen running seconds behind the STT: the STT ends the turn,
// the reply starts, and only then does the VAD report the words just answered as speech over it.
import { VAD, VADStream, type VADEvent } from '@livekit/agents';

export class LaggingVad extends VAD {
  label = 'test.LaggingVad';

  constructor(
    private readonly inner: VAD,
    private readonly lagMs: number,
  ) {
    super(inner.capabilities);
  }

  override get minSilenceDuration(): number | null {
    return this.inner.minSilenceDuration;
  }

  stream(): VADStream {
    return new LaggingVadStream(this, this.inner.stream(), this.lagMs);
  }
}

class LaggingVadStream extends VADStream {
  constructor(
    vad: VAD,
    private readonly inner: VADStream,
    lagMs: number,
  ) {
    super(vad);
    void this.feed(lagMs).catch(() => undefined);
    void this.relay().catch(() => undefined);
  }

  /** The framework's frames (and flushes) into the real VAD, each `lagMs` late. */
  private async feed(lagMs: number): Promise<void> {
    for (;;) {
      const { done, value } = await this.inputReader.read();
      if (done || this.closed) return;
      setTimeout(() => {
        if (this.closed) return;
        try {
          if (typeof value === 'symbol') this.inner.flush();
          else this.inner.pushFrame(value);
        } catch {
          // the real stream closed meanwhile
        }
      }, lagMs).unref();
    }
  }

  /** The real VAD's events, as they come, as this stream's. */
  private async relay(): Promise<void> {
    for await (const event of this.inner as AsyncIterable<VADEvent>) {
      if (!this.sendVADEvent(event)) return;
    }
  }

  override close(): void {
    if (this.closed) return;
    this.inner.close();
    super.close();
  }
}
