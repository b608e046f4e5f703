// A call from this browser: the microphone through the phone-line worklet (8 kHz mu-law, 20 ms
// frames) to the gateway's media-stream socket, speaking Twilio's side of the protocol, and the
// agent's audio back to the speakers, `clear` honoured and marks echoed once heard.
import type { BrowserCallCreated } from '../../../calls/schemas.js';
import { post } from '../api.js';
import { randomSid, readGatewayFrame, TwilioSide } from './twilio-side.js';
import { PROCESSOR_NAME, type FromWorklet, type ToWorklet } from './worklet-messages.js';

/** What the page shows while a call runs (and tests read from the page). */
export interface CallFigures {
  state: 'starting' | 'live' | 'ended';
  framesSent: number;
  /** Agent audio received, in 20 ms frames' worth of bytes (160 each). */
  agentBytes: number;
  /** Agent audio the speakers have played, in 8 kHz samples. */
  samplesPlayed: number;
  marksEchoed: number;
  clears: number;
  callId?: string;
  endedBecause?: string;
}

const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
const random = (bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => crypto.getRandomValues(bytes);

/** The gateway makes the call's record first and names the stream to open (single use with signature checks on). */
async function streamTarget(): Promise<{ url: string; customParameters: Record<string, string>; callId: string }> {
  const created = await post<BrowserCallCreated>('/api/calls/browser', {});
  return { url: asSocketUrl(created.streamUrl), customParameters: created.customParameters, callId: created.callId };
}

function asSocketUrl(target: string): string {
  const url = new URL(target, location.href);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.href;
}

export class BrowserCall {
  readonly figures: CallFigures = { state: 'starting', framesSent: 0, agentBytes: 0, samplesPlayed: 0, marksEchoed: 0, clears: 0 };
  private socket: WebSocket | undefined;
  private context: AudioContext | undefined;
  private microphone: MediaStream | undefined;
  private node: AudioWorkletNode | undefined;
  private side: TwilioSide | undefined;

  constructor(
    private readonly workletUrl: string,
    private readonly onChange: (figures: CallFigures) => void,
  ) {}

  async start(): Promise<void> {
    // The microphone first: a refusal ends here, before a call exists on the gateway.
    this.microphone = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true } });
    this.context = new AudioContext({ latencyHint: 'interactive' });
    await this.context.audioWorklet.addModule(this.workletUrl);
    this.node = new AudioWorkletNode(this.context, PROCESSOR_NAME, { numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1] });
    this.context.createMediaStreamSource(this.microphone).connect(this.node);
    this.node.connect(this.context.destination);

    const target = await streamTarget();
    this.figures.callId = target.callId;
    const side = (this.side = new TwilioSide({ streamSid: randomSid('MZ', random), callSid: randomSid('CA', random), accountSid: randomSid('AC', random) }, toBase64));
    const socket = (this.socket = new WebSocket(target.url));
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error('the gateway refused the media stream'));
    });
    for (const frame of side.opening(target.customParameters)) socket.send(frame);
    this.figures.state = 'live';
    this.node.port.onmessage = (event: MessageEvent<FromWorklet>) => this.fromWorklet(event.data);
    socket.onmessage = (event: MessageEvent<string>) => this.fromGateway(event.data);
    socket.onclose = (event) => this.ended(event.reason || `the gateway closed the stream (${event.code})`);
    this.onChange(this.figures);
  }

  /** Hangs up as Twilio does: `stop`, then the socket closes. */
  hangUp(): void {
    if (this.side && this.socket?.readyState === WebSocket.OPEN) this.socket.send(this.side.stop());
    this.socket?.close(1000, 'hung up');
    this.ended('hung up');
  }

  private fromWorklet(report: FromWorklet): void {
    if (report.type === 'frame') {
      if (this.socket?.readyState !== WebSocket.OPEN || !this.side) return;
      this.socket.send(this.side.media(report.payload));
      this.figures.framesSent++;
      return;
    }
    if (report.type === 'mark-played') {
      if (this.socket?.readyState === WebSocket.OPEN && this.side) this.socket.send(this.side.markEcho(report.name));
      this.figures.marksEchoed++;
    } else this.figures.samplesPlayed = report.samples8k;
    this.onChange(this.figures);
  }

  private fromGateway(text: string): void {
    const frame = readGatewayFrame(text, fromBase64);
    if (frame.type === 'other') return;
    if (frame.type === 'media') this.figures.agentBytes += frame.payload.length;
    if (frame.type === 'clear') this.figures.clears++;
    const message: ToWorklet = frame;
    this.node?.port.postMessage(message, frame.type === 'media' ? [frame.payload.buffer] : []);
  }

  private ended(why: string): void {
    if (this.figures.state === 'ended') return;
    this.figures.state = 'ended';
    this.figures.endedBecause = why;
    for (const track of this.microphone?.getTracks() ?? []) track.stop();
    // Let what is queued finish playing before the speakers go.
    setTimeout(() => void this.context?.close(), 1500);
    this.onChange(this.figures);
  }
}
