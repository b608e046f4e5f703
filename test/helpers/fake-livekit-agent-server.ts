// A fake of the LiveKit server's `/agent` endpoint: the protocol an agent worker speaks to be
// dispatched jobs (protobuf WorkerMessage up, ServerMessage down, over a WebSocket). Enough of it
// to register a worker, offer it a job, and assign the job when the worker says it is available;
// the room connection the job then makes (/rtc) is an SFU's, which this fake does not have.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { AvailabilityRequest, Job, JobAssignment, JobType, RegisterWorkerResponse, Room, ServerInfo, ServerMessage, WorkerMessage } from '@livekit/protocol';
import { WebSocketServer, type WebSocket } from 'ws';

export interface JobOffer {
  id: string;
  room: string;
  agentName: string;
  metadata: string;
}

export class FakeLivekitAgentServer {
  /** Every message the workers sent, decoded, in order. */
  readonly received: WorkerMessage[] = [];
  /** The `Authorization` header of each worker connection. */
  readonly authorizations: string[] = [];
  private readonly sockets = new Set<WebSocket>();
  private readonly waiters: Array<{ match: (m: WorkerMessage) => boolean; resolve: (m: WorkerMessage) => void }> = [];
  private readonly offers = new Map<string, JobOffer>();

  private constructor(
    private readonly wss: WebSocketServer,
    /** Where the assignment sends the job to join its room: no SFU answers there. */
    private readonly roomUrl: string,
  ) {}

  static async start(options: { roomUrl?: string } = {}): Promise<FakeLivekitAgentServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/agent' });
    await once(wss, 'listening');
    const port = (wss.address() as AddressInfo).port;
    const server = new FakeLivekitAgentServer(wss, options.roomUrl ?? `ws://127.0.0.1:${port}`);
    wss.on('connection', (socket, req) => server.accept(socket, req.headers.authorization ?? ''));
    return server;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`;
  }

  /** The first message of this kind (and, if given, that `also` accepts), already received or still to come. */
  next<C extends WorkerMessage['message']['case']>(
    kind: C,
    timeoutMs = 30_000,
    also: (m: WorkerMessage & { message: { case: C } }) => boolean = () => true,
  ): Promise<WorkerMessage & { message: { case: C } }> {
    const match = (m: WorkerMessage): boolean => m.message.case === kind && also(m as WorkerMessage & { message: { case: C } });
    const seen = this.received.find(match);
    if (seen) return Promise.resolve(seen as WorkerMessage & { message: { case: C } });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${kind} message from the worker within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as WorkerMessage & { message: { case: C } });
        },
      });
    });
  }

  /** Offers a job to every connected worker, as the server does on a dispatch. */
  offerJob(offer: JobOffer): void {
    this.offers.set(offer.id, offer);
    this.send(new ServerMessage({ message: { case: 'availability', value: new AvailabilityRequest({ job: this.job(offer), resuming: false }) } }));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private accept(socket: WebSocket, authorization: string): void {
    this.sockets.add(socket);
    this.authorizations.push(authorization);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('message', (data: Buffer) => {
      const message = WorkerMessage.fromBinary(new Uint8Array(data));
      this.received.push(message);
      this.answer(message);
      for (const waiter of this.waiters.filter((w) => w.match(message))) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
  }

  private answer(message: WorkerMessage): void {
    const { case: kind, value } = message.message;
    if (kind === 'register') {
      const info = new ServerInfo({ version: 'fake', protocol: 16 });
      this.send(new ServerMessage({ message: { case: 'register', value: new RegisterWorkerResponse({ workerId: 'W_fake', serverInfo: info }) } }));
    } else if (kind === 'availability' && value.available) {
      const offer = this.offers.get(value.jobId);
      if (!offer) return;
      // The token would let the job join the room on an SFU; none is here, so any string will do.
      const assignment = new JobAssignment({ job: this.job(offer), url: this.roomUrl, token: 'fake-room-token' });
      this.send(new ServerMessage({ message: { case: 'assignment', value: assignment } }));
    }
  }

  private job({ id, room, agentName, metadata }: JobOffer): Job {
    return new Job({ id, type: JobType.JT_ROOM, room: new Room({ sid: `RM_${room}`, name: room }), agentName, metadata, dispatchId: `AD_${id}` });
  }

  private send(message: ServerMessage): void {
    const bytes = message.toBinary();
    for (const socket of this.sockets) socket.send(bytes);
  }
}
