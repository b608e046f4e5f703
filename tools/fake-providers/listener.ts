// The socket plumbing every stand-in shares: an HTTP server on 127.0.0.1 (port 0 by default), the
// sockets a `hang` fault holds open, and a close that ends all of them, so a test never waits on
// a stand-in it has finished with.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export class Listener {
  /** Sockets held by a `hang` fault or taken over by an upgrade; destroyed on close. */
  private readonly held = new Set<Duplex>();

  private constructor(readonly server: http.Server) {}

  static async start(handler: http.RequestListener, port = 0): Promise<Listener> {
    const server = http.createServer(handler);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return new Listener(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Keeps the socket open and unanswered until the stand-in closes. */
  hold(socket: Duplex): void {
    this.held.add(socket);
    socket.once('close', () => this.held.delete(socket));
  }

  async close(): Promise<void> {
    for (const socket of this.held) socket.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Answers an upgrade request with an HTTP error and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: number, body: string): void {
  const reason = http.STATUS_CODES[status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Destroys the socket under an HTTP response: the client sees the connection reset mid-reply. */
export function dropResponse(res: http.ServerResponse): void {
  (res.socket as Socket | null)?.destroy();
}

/** Reads a request body whole. */
export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The request's headers as a plain record (lower-case names, arrays joined). */
export function headerRecord(req: http.IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
