// The room agent runs in a job process the LiveKit framework forks from the agent worker, so its
// transcript lines cannot reach the worker's RoomSessionSink (the store, the live bus) by a call.
// This relay carries them: the worker listens on a Unix socket named after its own pid, which a
// job process finds from its parent pid alone (no setting to pass down), and every sink call
// becomes one JSON line on that socket. One socket per job keeps its lines in their order; the
// worker applies them one after the other, so each reaches the sink once and in order.
import { once } from 'node:events';
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import type { Logger } from '../telemetry/logger.js';
import type { RoomSessionSink } from './session-events.js';

/** The socket the worker with this pid listens on. */
export function relaySocketPath(workerPid: number): string {
  return path.join(os.tmpdir(), `room-agent-relay-${workerPid}.sock`);
}

const relayMessage = z.discriminatedUnion('op', [
  z.object({ op: z.literal('started'), sessionId: z.string(), info: z.object({ participant: z.string().optional(), jobId: z.string().optional() }) }),
  z.object({
    op: z.literal('line'),
    sessionId: z.string(),
    line: z.object({ role: z.enum(['user', 'assistant']), text: z.string(), atMs: z.number(), interrupted: z.boolean().optional() }),
  }),
  z.object({ op: z.literal('ended'), sessionId: z.string(), reason: z.string() }),
]);
type RelayMessage = z.infer<typeof relayMessage>;

/** The end reason of a session whose job process went away without ending it (a crash, a kill). */
export const JOB_LOST = 'job_lost: the job process ended without ending the session';

/** The worker's end: hands what its job processes send to `sink`. */
export class JobSinkRelay {
  private readonly sockets = new Set<net.Socket>();
  /** Each connection's queue of sink calls, by its last one: close() waits for them all. */
  private readonly queues = new Map<net.Socket, Promise<void>>();

  private constructor(
    private readonly server: net.Server,
    readonly socketPath: string,
  ) {}

  static async listen(sink: RoomSessionSink, logger: Logger, workerPid: number = process.pid): Promise<JobSinkRelay> {
    const socketPath = relaySocketPath(workerPid);
    // Left by an earlier process that had this pid and died without closing it.
    rmSync(socketPath, { force: true });
    const server = net.createServer();
    const relay = new JobSinkRelay(server, socketPath);
    server.on('connection', (socket) => relay.serve(socket, sink, logger));
    server.listen(socketPath);
    await once(server, 'listening');
    // Only this user's processes may speak for a room session.
    chmodSync(socketPath, 0o600);
    return relay;
  }

  /** Stops listening, and resolves once what the jobs sent has reached the sink. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.end();
    await closed;
    rmSync(this.socketPath, { force: true });
    await Promise.all(this.queues.values());
  }

  private serve(socket: net.Socket, sink: RoomSessionSink, logger: Logger): void {
    this.sockets.add(socket);
    socket.on('error', (error) => logger.warn('a room agent job lost its relay socket', { error: error.message }));
    // Applied in turn: a slow store write never lets a later line overtake an earlier one.
    const enqueue = (message: RelayMessage): void => {
      const applied = (this.queues.get(socket) ?? Promise.resolve()).then(() =>
        apply(sink, message).catch((error: Error) => {
          logger.error('the room session sink failed', { op: message.op, sessionId: message.sessionId, error: error.message });
        }),
      );
      this.queues.set(socket, applied);
    };
    /** Sessions this job started and has not ended: a job process that dies leaves them open. */
    const open = new Set<string>();
    const lines = createInterface({ input: socket, crlfDelay: Infinity });
    lines.on('line', (text) => {
      const parsed = relayMessage.safeParse(parseJson(text));
      if (!parsed.success) {
        logger.warn('a room agent job sent a message the relay does not know; dropped', { bytes: text.length });
        return;
      }
      const message = parsed.data;
      if (message.op === 'started') open.add(message.sessionId);
      if (message.op === 'ended') open.delete(message.sessionId);
      enqueue(message);
    });
    // Every line read first ('close' of the reader follows the last 'line'), then the sessions left open are ended.
    lines.on('close', () => {
      this.sockets.delete(socket);
      for (const sessionId of open) {
        logger.warn('a room agent job ended without ending its session', { sessionId });
        enqueue({ op: 'ended', sessionId, reason: JOB_LOST });
      }
      // Nothing more comes on this socket: its queue is forgotten once drained.
      const last = this.queues.get(socket);
      void last?.then(() => this.queues.delete(socket));
    });
  }
}

function apply(sink: RoomSessionSink, message: RelayMessage): Promise<void> {
  switch (message.op) {
    case 'started':
      return sink.started(message.sessionId, message.info);
    case 'line':
      return sink.line(message.sessionId, message.line);
    case 'ended':
      return sink.ended(message.sessionId, message.reason);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A job process's sink: every call goes to the worker that forked it. */
export interface RelayedSink extends RoomSessionSink {
  /** Sends what is still buffered and closes the socket. */
  close(): Promise<void>;
}

/** The job's end, connected to its parent (the agent worker) on first use. */
export function relayedSink(workerPid: number = process.ppid): RelayedSink {
  let socket: Promise<net.Socket> | undefined;
  const connected = (): Promise<net.Socket> =>
    (socket ??= new Promise((resolve, reject) => {
      const s = net.createConnection(relaySocketPath(workerPid));
      s.once('connect', () => resolve(s));
      s.once('error', (error) => reject(new Error(`cannot reach the agent worker's relay: ${error.message}`)));
    }));
  const send = async (message: RelayMessage): Promise<void> => {
    const s = await connected();
    await new Promise<void>((resolve, reject) => s.write(`${JSON.stringify(message)}\n`, (error) => (error ? reject(error) : resolve())));
  };
  return {
    started: (sessionId, info) => send({ op: 'started', sessionId, info }),
    line: (sessionId, line) => send({ op: 'line', sessionId, line }),
    ended: (sessionId, reason) => send({ op: 'ended', sessionId, reason }),
    async close() {
      if (!socket) return;
      const s = await socket.catch(() => undefined);
      if (!s || s.destroyed) return;
      s.end();
      await once(s, 'close').catch(() => undefined);
    },
  };
}
