// A stand-in for the persistence service (the Django back office) on 127.0.0.1, speaking the
// contract the README defines: it checks the Bearer token, honours Idempotency-Key (a key it has
// accepted is answered 409 and not stored twice), and answers validations as a test scripts it.
// It can be down (503), stopped (connections refused) and started again on the same port.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServiceRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The status the service answered (undefined while it hangs). */
  status?: number;
}

/** What the service answers a request with: a status and a JSON body, or no answer at all. */
export type Answer = { status: number; json?: unknown } | 'hang';

export class FakePersistenceService {
  /** Every request received, in order. */
  readonly requests: ServiceRequest[] = [];
  /** Accepted records by Idempotency-Key: what a real service would have stored. */
  readonly stored = new Map<string, { path: string; body: string }>();
  /** Ingest answers: a function of the request, e.g. 503 while "down"; undefined = the contract's normal answer. */
  ingest: (request: ServiceRequest) => Answer | undefined = () => undefined;
  /** Validation answer; by default every session is allowed. */
  validate: (request: ServiceRequest) => Answer = () => ({ status: 200, json: { allowed: true } });

  private server: http.Server | undefined;
  private readonly hanging = new Set<ServerResponse>();
  private listeners: Array<() => void> = [];
  port = 0;

  constructor(readonly token: string) {}

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on `port` (0: a free one, remembered: a restart takes the same one). */
  async start(port = this.port): Promise<void> {
    const server = http.createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and drops every connection: requests from now on are refused. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Requests to one path (e.g. `/api/ingest/calls`). */
  to(path: string): ServiceRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Resolves once a request (already received or not; answered or hanging) satisfies `match`. */
  waitFor(match: (request: ServiceRequest) => boolean, timeoutMs = 15_000): Promise<ServiceRequest> {
    const found = this.requests.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners = this.listeners.filter((l) => l !== check);
        reject(new Error('the persistence service did not get the expected request in time'));
      }, timeoutMs);
      const check = (): void => {
        const hit = this.requests.find(match);
        if (!hit) return;
        clearTimeout(timer);
        this.listeners = this.listeners.filter((l) => l !== check);
        resolve(hit);
      };
      this.listeners.push(check);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: ServiceRequest = { method: req.method ?? '', path: new URL(req.url ?? '/', 'http://x').pathname, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
    this.requests.push(request);
    const answer = this.answer(request);
    if (answer === 'hang') {
      this.hanging.add(res);
    } else {
      request.status = answer.status;
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.json ?? {}));
    }
    for (const listener of [...this.listeners]) listener();
  }

  private answer(request: ServiceRequest): Answer {
    if (request.method !== 'POST') return { status: 405 };
    if (request.headers.authorization !== `Bearer ${this.token}`) return { status: 401, json: { detail: 'bad token' } };
    if (request.path === '/api/sessions/validate') return this.validate(request);
    if (request.path !== '/api/ingest/calls' && request.path !== '/api/ingest/sessions') return { status: 404 };
    const scripted = this.ingest(request);
    if (scripted !== undefined) return scripted;
    const key = request.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') return { status: 400, json: { detail: 'Idempotency-Key is required' } };
    if (this.stored.has(key)) return { status: 409, json: { detail: 'already stored' } };
    this.stored.set(key, { path: request.path, body: request.body });
    return { status: 201, json: { stored: key } };
  }
}
