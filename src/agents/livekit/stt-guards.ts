// Two ways a speech-to-text goes quiet without the framework ever hearing of it, each turned into a
// failed stream: the stt.FallbackAdapter then moves on to the next STT, and a lone STT's failure
// (or the adapter's "all STTs failed") reaches the session as an unrecoverable error, so the call
// gets the apology instead of a caller talking to nobody.
// - A whole-request STT (OpenAI's): the framework's StreamAdapter logs a failed request and goes on
//   listening, so no failure of it is ever seen. `WholeRequestStt` fails its stream instead.
// - A streaming STT (Deepgram's): the plugin has no handshake timeout and only logs a dropped
//   socket. `SttWatchdog` fails its stream when the caller speaks and it says nothing back.
import { APIConnectionError, stt, VADEventType, type APIConnectOptions, type VAD } from '@livekit/agents';
import type { AudioFrame } from '@livekit/rtc-node';

/** A stream's own failure: never retried on the same provider (the next one is tried instead). */
function streamFailure(message: string): APIConnectionError {
  return new APIConnectionError({ message, options: { retryable: false } });
}

/** A whole-request STT streaming by the VAD's utterances; a failed request fails the stream. */
export class WholeRequestStt extends stt.STT {
  readonly label: string;

  constructor(
    private readonly whole: stt.STT,
    private readonly vad: VAD,
  ) {
    super({ streaming: true, interimResults: false });
    this.label = `stt.WholeRequest<${whole.label}>`;
    whole.on('metrics_collected', (metrics) => this.emit('metrics_collected', metrics));
  }

  protected _recognize(frame: AudioFrame | AudioFrame[], abortSignal?: AbortSignal): Promise<stt.SpeechEvent> {
    return this.whole.recognize(frame, abortSignal);
  }

  stream(options?: { connOptions?: APIConnectOptions }): stt.SpeechStream {
    return new WholeRequestStream(this, this.whole, this.vad, options?.connOptions);
  }
}

class WholeRequestStream extends stt.SpeechStream {
  readonly label: string;

  constructor(
    owner: WholeRequestStt,
    private readonly whole: stt.STT,
    private readonly vad: VAD,
    connOptions: APIConnectOptions | undefined,
  ) {
    super(owner, undefined, connOptions);
    this.label = `${owner.label} stream`;
  }

  protected async run(): Promise<void> {
    const utterances = this.vad.stream();
    const forward = async () => {
      for await (const item of this.input) {
        if (typeof item === 'symbol') utterances.flush();
        else utterances.pushFrame(item);
      }
      utterances.endInput();
    };
    const recognize = async () => {
      for await (const ev of utterances) {
        if (ev.type === VADEventType.START_OF_SPEECH) this.queue.put({ type: stt.SpeechEventType.START_OF_SPEECH });
        if (ev.type !== VADEventType.END_OF_SPEECH) continue;
        const speechEndTime = Date.now() - ev.silenceDuration - ev.inferenceDuration;
        this.queue.put({ type: stt.SpeechEventType.END_OF_SPEECH, speechEndTime });
        const event = await this.whole.recognize(ev.frames, this.abortSignal).catch((err: unknown) => {
          throw streamFailure(`${this.whole.label} failed: ${err instanceof Error ? err.message : String(err)}`);
        });
        if (event.alternatives?.[0].text) this.queue.put({ ...event, speechEndTime: event.speechEndTime ?? speechEndTime });
      }
    };
    try {
      await Promise.all([forward(), recognize()]);
    } finally {
      utterances.close();
    }
  }
}

/**
 * Whether the caller is speaking now, by the session's VAD; one per call, told by the bridge.
 * The watchdog arms on it: a streaming STT owes an answer only to speech.
 */
export class CallerSpeech {
  private speaking = false;
  private readonly listeners = new Set<(speaking: boolean) => void>();

  get isSpeaking(): boolean {
    return this.speaking;
  }

  set(speaking: boolean): void {
    if (speaking === this.speaking) return;
    this.speaking = speaking;
    for (const listener of this.listeners) listener(speaking);
  }

  /** Returns the unsubscribe. */
  onChange(listener: (speaking: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A streaming STT that fails once the caller has spoken and it has said nothing back for `stallMs`. */
export class SttWatchdog extends stt.STT {
  readonly label: string;

  constructor(
    readonly inner: stt.STT,
    readonly speech: CallerSpeech,
    readonly stallMs: number,
  ) {
    super({ ...inner.capabilities });
    this.label = `stt.Watchdog<${inner.label}>`;
    inner.on('metrics_collected', (metrics) => this.emit('metrics_collected', metrics));
    // The inner stream's errors are reported by this one's failure (under this label); left
    // without a listener, the emitter would throw them.
    inner.on('error', () => undefined);
  }

  protected _recognize(frame: AudioFrame | AudioFrame[], abortSignal?: AbortSignal): Promise<stt.SpeechEvent> {
    return this.inner.recognize(frame, abortSignal);
  }

  stream(options?: { connOptions?: APIConnectOptions }): stt.SpeechStream {
    return new WatchedStream(this, options?.connOptions);
  }

  override async close(): Promise<void> {
    await this.inner.close();
  }
}

/** No retry inside: a retry belongs to the stream around it. */
const ONE_TRY: APIConnectOptions = { maxRetry: 0, retryIntervalMs: 0, timeoutMs: 10_000 };

class WatchedStream extends stt.SpeechStream {
  readonly label: string;
  private timer: NodeJS.Timeout | undefined;
  private stalled: (() => void) | undefined;

  constructor(
    private readonly watchdog: SttWatchdog,
    connOptions: APIConnectOptions | undefined,
  ) {
    super(watchdog, undefined, connOptions);
    this.label = `${watchdog.label} stream`;
  }

  protected async run(): Promise<void> {
    const inner = this.watchdog.inner.stream({ connOptions: ONE_TRY });
    let innerError: string | undefined;
    const onInnerError = (ev: { error?: Error }) => (innerError = ev.error?.message);
    this.watchdog.inner.on('error', onInnerError);
    const stall = new Promise<never>((_, reject) => {
      this.stalled = () =>
        reject(streamFailure(`${this.watchdog.inner.label} said nothing for ${this.watchdog.stallMs} ms while the caller spoke`));
    });
    // A speaking caller arms the watchdog; it stays armed after they stop (a final is owed).
    const unsubscribe = this.watchdog.speech.onChange((speaking) => speaking && this.arm());
    if (this.watchdog.speech.isSpeaking) this.arm();
    const forward = async () => {
      for await (const item of this.input) {
        if (typeof item === 'symbol') inner.flush();
        else inner.pushFrame(item);
      }
      inner.endInput();
    };
    const relay = async () => {
      for await (const ev of inner) {
        this.disarm();
        if (this.watchdog.speech.isSpeaking) this.arm();
        this.queue.put(ev);
      }
      if (inner._failed || !this.input.closed) throw streamFailure(`${this.watchdog.inner.label} failed: ${innerError ?? 'its stream ended'}`);
    };
    try {
      await Promise.race([Promise.all([forward(), relay()]), stall]);
    } finally {
      this.disarm();
      unsubscribe();
      this.watchdog.inner.off('error', onInnerError);
      inner.close();
    }
  }

  private arm(): void {
    this.timer ??= setTimeout(() => this.stalled?.(), this.watchdog.stallMs);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
