// One converse socket to the Deepgram Voice Agent, through @deepgram/sdk. The SDK delivers agent
// audio as Blobs, whose bytes can only be read asynchronously; this wrapper turns them back into
// Buffers and keeps every message in arrival order, so an AgentAudioDone never overtakes the
// audio before it.
import { DeepgramClient } from '@deepgram/sdk';
import { toSdkSettings, toServerMessage, type ServerMessage, type SettingsMessage } from './messages.js';

export const CONVERSE_PATH = '/v1/agent/converse';

export interface ConverseHandlers {
  message(message: ServerMessage): void;
  audio(chunk: Buffer): void;
  /** The socket closed without us asking (a drop, or the server closing after an Error). */
  closed(code: number): void;
}

export interface ConverseOptions {
  /** The converse URL, e.g. wss://agent.deepgram.com/v1/agent/converse. */
  url: string;
  apiKey: string;
  connectTimeoutMs: number;
}

type QueueItem = { kind: 'message'; message: ServerMessage } | { kind: 'audio'; bytes: Promise<ArrayBuffer>; dropped: boolean };

type SdkSocket = Awaited<ReturnType<DeepgramClient['agent']['v1']['connect']>>;

/** The SDK appends the converse path to its base URL itself. */
function sdkBaseUrl(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return trimmed.endsWith(CONVERSE_PATH) ? trimmed.slice(0, -CONVERSE_PATH.length) : trimmed;
}

export class ConverseSocket {
  private readonly queue: QueueItem[] = [];
  private draining = false;
  private closedByUs = false;
  /** The SDK reports a refused upgrade as a close before waitForOpen rejects; only later closes are drops. */
  private opened = false;
  private socket: SdkSocket | undefined;

  /** Exists before it connects, so a Welcome that arrives at once finds its owner ready to answer. */
  constructor(
    private readonly options: ConverseOptions,
    private readonly handlers: ConverseHandlers,
  ) {}

  /** Opens the socket; rejects when it cannot be opened within the timeout (bad key, no route, ...). */
  async connect(): Promise<void> {
    const { url, apiKey, connectTimeoutMs } = this.options;
    const client = new DeepgramClient({ apiKey, baseUrl: sdkBaseUrl(url) });
    // The SDK reconnects silently by default, into a fresh session without our Settings.
    const socket = await client.agent.v1.connect({
      reconnectAttempts: 0,
      connectionTimeoutInSeconds: Math.max(1, Math.ceil(connectTimeoutMs / 1000)),
    });
    this.socket = socket;
    socket.on('message', (m: unknown) => this.receive(m));
    socket.on('close', (event: { code?: number }) => this.onClose(event.code ?? 1006));
    socket.on('error', () => undefined); // followed by close
    if (this.closedByUs) return this.close();
    socket.connect();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        socket.waitForOpen(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no connection within ${connectTimeoutMs} ms`)), connectTimeoutMs);
        }),
      ]);
    } catch (err) {
      this.close();
      // A refused upgrade arrives as an ErrorEvent, not an Error.
      const message = (err as { message?: string }).message ?? String(err);
      throw new Error(`cannot connect to the Deepgram agent: ${message}`);
    } finally {
      clearTimeout(timer);
    }
    this.opened = true;
  }

  get isOpen(): boolean {
    return !this.closedByUs && this.socket?.readyState === 1;
  }

  sendSettings(settings: SettingsMessage): void {
    this.socket?.sendSettings(toSdkSettings(settings));
  }

  sendAudio(frame: Buffer): void {
    this.socket?.sendMedia(frame);
  }

  sendKeepAlive(): void {
    this.socket?.sendKeepAlive({ type: 'KeepAlive' });
  }

  sendFunctionCallResponse(id: string, name: string, content: string): void {
    this.socket?.sendFunctionCallResponse({ type: 'FunctionCallResponse', id, name, content });
  }

  /** Audio still being read from Blobs is discarded (a barge-in made it stale). */
  dropPendingAudio(): void {
    for (const item of this.queue) if (item.kind === 'audio') item.dropped = true;
  }

  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.queue.length = 0;
    try {
      this.socket?.close();
    } catch {
      // already closed
    }
  }

  private receive(raw: unknown): void {
    if (this.closedByUs) return;
    if (raw instanceof Blob) {
      this.queue.push({ kind: 'audio', bytes: raw.arrayBuffer(), dropped: false });
      void this.drain();
      return;
    }
    const message = toServerMessage(typeof raw === 'string' ? safeParse(raw) : raw);
    if (!message) return;
    // Barge-in must not wait behind audio being read: that audio is stale anyway.
    if (this.queue.length === 0 || message.type === 'UserStartedSpeaking') {
      if (message.type === 'UserStartedSpeaking') this.dropPendingAudio();
      this.handlers.message(message);
      return;
    }
    this.queue.push({ kind: 'message', message });
  }

  /** Delivers queued items in order, waiting for each Blob's bytes. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      while (this.queue.length > 0 && !this.closedByUs) {
        const item = this.queue[0]!;
        if (item.kind === 'audio') {
          const bytes = await item.bytes.catch(() => undefined);
          if (this.closedByUs) return;
          if (bytes && !item.dropped) this.handlers.audio(Buffer.from(bytes));
        } else {
          this.handlers.message(item.message);
        }
        this.queue.shift();
      }
    } finally {
      this.draining = false;
    }
  }

  private onClose(code: number): void {
    if (this.closedByUs || !this.opened) return;
    this.closedByUs = true;
    this.handlers.closed(code);
  }
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
