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

/**
 * What both guards are: an STT in front of a provider's, under the label `stt.<Guard><provider>`,
 * reporting the provider's metrics as its own and its failures as its own stream's (so the
 * provider's `error` events, which would throw without a listener, are only noted), and passing
 * whole requests and close() through. Each guard adds its stream.
 */
abstract class SttGuard extends stt.STT {
  readonly label: string;

  constructor(
    readonly inner: stt.STT,
    guard: string,
    capabilities: stt.STTCapabilities,
  ) {
    super(capabilities);
    this.label = `stt.${guard}<${inner.label}>`;
    inner.on('metrics_collected', (metrics) => this.emit('metrics_collected', metrics));
    inner.on('error', () => undefined);
  }

  protected _recognize(frame: AudioFrame | AudioFrame[], abortSignal?: AbortSignal): Promise<stt.SpeechEvent> {
    return this.inner.recognize(frame, abortSignal);
  }

  override async close(): Promise<void> {
    await this.inner.close();
  }
}

/** Where a guard's stream passes the caller's audio: the provider's own stream, or the VAD's. */
interface AudioSink {
  pushFrame(frame: AudioFrame): void;
  flush(): void;
  endInput(): void;
}

/** A guard's stream: it forwards the session's audio to what it guards, and fails by `streamFailure`. */
abstract class GuardStream<Guard extends SttGuard> extends stt.SpeechStream {
  readonly label: string;

  constructor(
    protected readonly guard: Guard,
    connOptions: APIConnectOptions | undefined,
  ) {
    super(guard, undefined, connOptions);
    this.label = `${guard.label} stream`;
  }

  /** The session's audio and flushes to `sink`, until the session ends the input. */
  protected async forwardInput(sink: AudioSink): Promise<void> {
    for await (const item of this.input) {
      if (typeof item === 'symbol') sink.flush();
      else sink.pushFrame(item);
    }
    sink.endInput();
  }
}

/** A whole-request STT streaming by the VAD's utterances; a failed request fails the stream. */
export class WholeRequestStt extends SttGuard {
  constructor(
    whole: stt.STT,
    readonly vad: VAD,
  ) {
    super(whole, 'WholeRequest', { streaming: true, interimResults: false });
  }

  stream(options?: { connOptions?: APIConnectOptions }): stt.SpeechStream {
    return new WholeRequestStream(this, options?.connOptions);
  }
}

class WholeRequestStream extends GuardStream<WholeRequestStt> {
  protected async run(): Promise<void> {
    const { inner: whole, vad } = this.guard;
    const utterances = vad.stream();
    const recognize = async () => {
      for await (const ev of utterances) {
        if (ev.type === VADEventType.START_OF_SPEECH) this.queue.put({ type: stt.SpeechEventType.START_OF_SPEECH });
        if (ev.type !== VADEventType.END_OF_SPEECH) continue;
        const speechEndTime = Date.now() - ev.silenceDuration - ev.inferenceDuration;
        this.queue.put({ type: stt.SpeechEventType.END_OF_SPEECH, speechEndTime });
        const event = await whole.recognize(ev.frames, this.abortSignal).catch((err: unknown) => {
          throw streamFailure(`${whole.label} failed: ${err instanceof Error ? err.message : String(err)}`);
        });
        if (event.alternatives?.[0].text) this.queue.put({ ...event, speechEndTime: event.speechEndTime ?? speechEndTime });
      }
    };
    try {
      await Promise.all([this.forwardInput(utterances), recognize()]);
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
export class SttWatchdog extends SttGuard {
  constructor(
    streaming: stt.STT,
    readonly speech: CallerSpeech,
    readonly stallMs: number,
  ) {
    super(streaming, 'Watchdog', { ...streaming.capabilities });
  }

  stream(options?: { connOptions?: APIConnectOptions }): stt.SpeechStream {
    return new WatchedStream(this, options?.connOptions);
  }
}

/** No retry inside: a retry belongs to the stream around it. */
const ONE_TRY: APIConnectOptions = { maxRetry: 0, retryIntervalMs: 0, timeoutMs: 10_000 };

class WatchedStream extends GuardStream<SttWatchdog> {
  private timer: NodeJS.Timeout | undefined;
  private stalled: (() => void) | undefined;

  protected async run(): Promise<void> {
    const { inner: streaming, speech, stallMs } = this.guard;
    const inner = streaming.stream({ connOptions: ONE_TRY });
    let innerError: string | undefined;
    const onInnerError = (ev: { error?: Error }) => (innerError = ev.error?.message);
    streaming.on('error', onInnerError);
    const stall = new Promise<never>((_, reject) => {
      this.stalled = () => reject(streamFailure(`${streaming.label} said nothing for ${stallMs} ms while the caller spoke`));
    });
    // A speaking caller arms the watchdog; it stays armed after they stop (a final is owed).
    const unsubscribe = speech.onChange((speaking) => speaking && this.arm());
    if (speech.isSpeaking) this.arm();
    const relay = async () => {
      for await (const ev of inner) {
        this.disarm();
        if (speech.isSpeaking) this.arm();
        this.queue.put(ev);
      }
      if (inner._failed || !this.input.closed) throw streamFailure(`${streaming.label} failed: ${innerError ?? 'its stream ended'}`);
    };
    try {
      await Promise.race([Promise.all([this.forwardInput(inner), relay()]), stall]);
    } finally {
      this.disarm();
      unsubscribe();
      streaming.off('error', onInnerError);
      inner.close();
    }
  }

  private arm(): void {
    this.timer ??= setTimeout(() => this.stalled?.(), this.guard.stallMs);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
