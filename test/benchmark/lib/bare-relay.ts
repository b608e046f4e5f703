// The floor of the Deepgram relay benchmark: the smallest correct Twilio <-> Deepgram Voice Agent
// relay on `ws`, run as a child process exactly like the gateway (PORT, GET /health, the same
// media-stream path) and measured the same way. Per Twilio stream: one converse socket with the
// key, Welcome answered with Settings (mu-law 8 kHz both ways, no container), caller audio held
// until SettingsApplied, then mu-law moved untouched both ways. No recording, VAD, telemetry,
// logging or re-chunking: whatever the gateway spends beyond this is the price of its features.
//
// Environment: PORT, DEEPGRAM_VOICE_AGENT_WS_URL (the converse URL), DEEPGRAM_API_KEY, and
// RELAY_PROCESSES (default 1): that many processes on the one port through node:cluster, dealt
// connections as the gateway's WORKERS are, so the cost of splitting calls over processes can be
// measured on the floor itself.
import cluster from 'node:cluster';
import http from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';

const MEDIA_STREAM_PATH = '/twilio/media-stream';
/** As the gateway: at most 5 s of caller audio waits for SettingsApplied; later frames are dropped. */
const MAX_HELD_FRAMES = 250;
const SHUTDOWN_TIMEOUT_MS = 2000;

/** The least the converse API accepts for a phone call; built once, sent per call. */
const SETTINGS = JSON.stringify({
  type: 'Settings',
  audio: {
    input: { encoding: 'mulaw', sample_rate: 8000 },
    output: { encoding: 'mulaw', sample_rate: 8000, container: 'none' },
  },
  agent: {
    listen: { provider: { type: 'deepgram', version: 'v1', model: 'nova-3' } },
    think: { provider: { type: 'open_ai', model: 'gpt-4o-mini' }, prompt: 'You are a helpful voice assistant.' },
    speak: { provider: { type: 'deepgram', model: 'aura-2-thalia-en' } },
  },
});

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    process.stderr.write(`bare relay: ${name} is required\n`);
    process.exit(2);
  }
  return value;
}

const port = Number(required('PORT'));
const agentUrl = required('DEEPGRAM_VOICE_AGENT_WS_URL');
const authorization = `Token ${required('DEEPGRAM_API_KEY')}`;

interface TwilioMessage {
  event?: unknown;
  streamSid?: unknown;
  media?: { payload?: unknown };
}

/** One Twilio stream and its converse socket; whichever side closes first closes the other. */
class RelayedCall {
  private readonly agent: WebSocket;
  /** The JSON before a media payload, fixed per stream; empty until `start`. */
  private mediaPrefix = '';
  private ready = false;
  private held: Buffer[] = [];
  private closed = false;

  constructor(private readonly twilio: WebSocket) {
    this.agent = new WebSocket(agentUrl, { headers: { Authorization: authorization }, perMessageDeflate: false });
    this.agent.on('message', (data: RawData, isBinary: boolean) => (isBinary ? this.agentAudio(data as Buffer) : this.agentText(data)));
    this.agent.on('close', () => this.close());
    this.agent.on('error', () => undefined); // close follows
    twilio.on('message', (data: RawData, isBinary: boolean) => {
      if (!isBinary) this.twilioText(data.toString());
    });
    twilio.on('close', () => this.close());
    twilio.on('error', () => undefined);
  }

  private twilioText(text: string): void {
    let msg: TwilioMessage;
    try {
      msg = JSON.parse(text) as TwilioMessage;
    } catch {
      return; // not JSON: skipped, the call goes on
    }
    if (msg.event === 'media' && typeof msg.media?.payload === 'string') this.callerAudio(Buffer.from(msg.media.payload, 'base64'));
    else if (msg.event === 'start' && typeof msg.streamSid === 'string') this.mediaPrefix = `{"event":"media","streamSid":${JSON.stringify(msg.streamSid)},"media":{"payload":"`;
    else if (msg.event === 'stop') this.close();
  }

  private callerAudio(frame: Buffer): void {
    if (this.ready) this.agent.send(frame);
    else if (this.held.length < MAX_HELD_FRAMES) this.held.push(frame);
  }

  private agentText(data: RawData): void {
    let type: unknown;
    try {
      type = (JSON.parse(data.toString()) as { type?: unknown }).type;
    } catch {
      return;
    }
    if (type === 'Welcome') this.agent.send(SETTINGS);
    else if (type === 'SettingsApplied') this.startRelaying();
    else if (type === 'Error') this.close();
  }

  private startRelaying(): void {
    this.ready = true;
    for (const frame of this.held) this.agent.send(frame);
    this.held = [];
  }

  private agentAudio(audio: Buffer): void {
    if (this.mediaPrefix && this.twilio.readyState === WebSocket.OPEN) this.twilio.send(`${this.mediaPrefix}${audio.toString('base64')}"}}`);
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held = [];
    if (this.agent.readyState === WebSocket.CONNECTING) this.agent.terminate();
    else this.agent.close();
    this.twilio.close(1000);
  }
}

const processes = Number(process.env.RELAY_PROCESSES ?? '1');
if (cluster.isPrimary && processes > 1) runPrimary(processes);
else serve();

/** Forks the relay processes; on SIGTERM/SIGINT passes it on and exits once they have. */
function runPrimary(count: number): void {
  for (let i = 0; i < count; i++) cluster.fork();
  let stopping = false;
  const stop = (): void => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM');
  };
  cluster.on('exit', () => {
    if (!stopping) process.exit(1);
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
  });
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** One relay process: the HTTP server with the media-stream socket. */
function serve(): void {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    else res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ server, path: MEDIA_STREAM_PATH });
  wss.on('connection', (ws) => new RelayedCall(ws));

  function shutDown(): void {
    setTimeout(() => process.exit(0), SHUTDOWN_TIMEOUT_MS).unref();
    for (const client of wss.clients) client.close(1001);
    wss.close();
    server.close(() => process.exit(0));
  }

  process.on('SIGTERM', shutDown);
  process.on('SIGINT', shutDown);
  server.listen(port, '127.0.0.1');
}
