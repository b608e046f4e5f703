// The TTS FallbackAdapter's recovery check, made free and pointed where the configuration says.
// While a TTS is down, the adapter asks whether it is back by calling its `synthesize()` with a
// test sentence: at once, then every `recoveryDelayMs`, for as long as the call lasts. Left to the
// plugins, each check is a billable synthesis, and Cartesia's `synthesize()` goes over node:https
// to the base URL's host whatever its scheme (CARTESIA_BASE_URL=http://… is probed with TLS, at the
// wrong place). The session itself never calls `synthesize()` on the adapter's providers (it
// speaks through `stream()`), so here `synthesize()` only asks whether the provider takes requests
// again, through the same door a reply uses (Cartesia: the socket's handshake with our key; OpenAI:
// its model list), and answers with a frame of silence when it does: the adapter takes any audio
// as "recovered". A provider that is not back yields no audio and no error, so a failed check does
// not count against the session as a failed reply would.
// Trade-off: a provider that takes our key but fails to synthesize is marked back, and the next
// reply falls over to the next TTS again (at once: the failure is a refusal, not a wait).
import { randomUUID } from 'node:crypto';
import { tts, type APIConnectOptions } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import type OpenAI from 'openai';
import WebSocket from 'ws';

/** Resolves when the provider takes requests again, rejects when it does not (or `signal` aborts). */
export type RecoveryCheck = (signal: AbortSignal) => Promise<void>;

/** How long a recovery check may take before the provider counts as still down. */
export const RECOVERY_CHECK_TIMEOUT_MS = 5_000;
/** The silence a passed check answers with: 10 ms. */
const CHECK_FRAME_MS = 10;

/** A TTS whose `synthesize()` is a free recovery check; `stream()`, what the session speaks with, is the provider's own. */
export class RecoveryCheckedTts extends tts.TTS {
  readonly label: string;

  constructor(
    readonly inner: tts.TTS,
    readonly check: RecoveryCheck,
  ) {
    super(inner.sampleRate, inner.numChannels, inner.capabilities);
    this.label = inner.label; // the provider's name in the adapter's logs and errors
    inner.on('metrics_collected', (metrics) => this.emit('metrics_collected', metrics));
    inner.on('error', (error) => this.emit('error', error));
  }

  override get model(): string {
    return this.inner.model;
  }

  override get provider(): string {
    return this.inner.provider;
  }

  stream(options?: { connOptions?: APIConnectOptions }): tts.SynthesizeStream {
    return this.inner.stream(options);
  }

  synthesize(text: string, connOptions?: APIConnectOptions, abortSignal?: AbortSignal): tts.ChunkedStream {
    return new RecoveryCheckStream(this, text, connOptions, abortSignal);
  }

  override async close(): Promise<void> {
    await this.inner.close();
  }
}

class RecoveryCheckStream extends tts.ChunkedStream {
  readonly label = 'tts.RecoveryCheck';

  constructor(
    private readonly owner: RecoveryCheckedTts,
    text: string,
    connOptions: APIConnectOptions | undefined,
    abortSignal: AbortSignal | undefined,
  ) {
    super(text, owner, connOptions, abortSignal);
  }

  protected async run(): Promise<void> {
    const timeout = AbortSignal.timeout(RECOVERY_CHECK_TIMEOUT_MS);
    try {
      await this.owner.check(AbortSignal.any([this.abortSignal, timeout]));
    } catch {
      return; // still down: no audio
    }
    const { sampleRate, numChannels } = this.owner;
    const samples = (sampleRate * CHECK_FRAME_MS) / 1000;
    const id = randomUUID();
    const frame = new AudioFrame(new Int16Array(samples * numChannels), sampleRate, numChannels, samples);
    this.queue.put({ requestId: id, segmentId: id, frame, final: true });
  }
}

/**
 * Cartesia is back when its TTS socket, where replies are spoken, completes a handshake with our
 * key: the URL and headers the plugin's own socket uses (its scheme from CARTESIA_BASE_URL).
 */
export function cartesiaSocketCheck(baseUrl: string, apiKey: string, apiVersion: string): RecoveryCheck {
  const url = `${baseUrl.replace(/^http/, 'ws')}/tts/websocket`;
  const headers = { 'X-API-Key': apiKey, 'Cartesia-Version': apiVersion };
  return (signal) =>
    new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { headers, handshakeTimeout: RECOVERY_CHECK_TIMEOUT_MS });
      const abort = () => ws.terminate();
      signal.addEventListener('abort', abort, { once: true });
      const settle = (err?: Error) => {
        signal.removeEventListener('abort', abort);
        if (err) reject(err);
        else resolve();
      };
      ws.once('open', () => {
        ws.close(1000);
        settle();
      });
      ws.once('unexpected-response', (_req, res) => {
        ws.terminate();
        settle(new Error(`the handshake was refused with ${res.statusCode}`));
      });
      ws.on('error', (err) => settle(err));
      ws.once('close', () => settle(new Error('the socket closed during the handshake')));
    });
}

/** An OpenAI-compatible TTS is back when its API lists the models: our key is taken, nothing is synthesized. */
export function openAiModelsCheck(client: OpenAI): RecoveryCheck {
  return async (signal) => {
    await client.models.list({ signal });
  };
}
