// One watcher socket on a task, a call or a room session: the snapshot first, then every event the bus
// carries for it, each once and in order. A watcher that reads too slowly is dropped, so its buffer can never
// grow without bound and the call that feeds it never waits.
import { isDeepStrictEqual } from 'node:util';
import type WebSocket from 'ws';
import type { Logger } from '../telemetry/logger.js';
import type { TaskView } from '../tasks/view.js';
import type { CallView } from '../calls/schemas.js';
import { toError } from '../util/errors.js';
import type { LiveBus, LiveEvent, LiveMessage } from './bus.js';

/** Bytes a watcher may leave unread before it is dropped. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * Events a watcher may hold while its snapshot is read (a store round trip). A call makes a few
 * events a second, so only a store stuck for minutes gets here; the watcher is then dropped
 * rather than held without bound.
 */
export const MAX_HELD_EVENTS = 1000;

/**
 * What watching one kind of thing (a task, a room session) needs: its snapshot, what that
 * snapshot shows, and its events as watchers receive them. The socket handling is shared.
 */
export interface WatchedKind<View, Event, Extent> {
  /** Named in log lines and close reasons: `task`, `session`. */
  noun: string;
  /** The thing as a watcher first sees it; undefined when there is no such thing. */
  snapshot(id: string): Promise<View | undefined>;
  /** The first message on the socket. */
  snapshotMessage(view: View): unknown;
  /** How much of the thing the snapshot showed. */
  extent(view: View): Extent;
  /** Whether the snapshot already showed `event` (it was stored before the snapshot was read). */
  shownBy(extent: Extent, event: Event): boolean;
  /** The event as watchers receive it. */
  message(event: Event): unknown;
}

export interface WatchersDeps<View, Event extends object, Extent> {
  bus: LiveBus<Event>;
  kind: WatchedKind<View, Event, Extent>;
  logger: Logger;
  maxBufferedBytes?: number;
}

/** Close code for a thing that vanished between the upgrade check and the socket opening. */
export const CLOSE_TASK_NOT_FOUND = 4404;
/** Close code when the thing could not be read (the store failed). */
export const CLOSE_SNAPSHOT_FAILED = 1011;

export class Watchers<View, Event extends object, Extent> {
  /** Each event is serialized once, however many watchers it goes to. */
  private readonly encoded = new WeakMap<Event, string>();
  private readonly maxBufferedBytes: number;
  private readonly kind: WatchedKind<View, Event, Extent>;

  constructor(private readonly deps: WatchersDeps<View, Event, Extent>) {
    this.maxBufferedBytes = deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    this.kind = deps.kind;
  }

  /**
   * Subscribes first and reads the snapshot after, holding what the bus carries meanwhile: an
   * event stored before the read is in the snapshot, one stored after it is held, and the held
   * ones the snapshot already has are dropped by their place (see Placed). A stored event
   * relayed late from another process is dropped the same way after the snapshot too.
   */
  async attach(socket: WebSocket, id: string): Promise<void> {
    const { noun } = this.kind;
    socket.on('error', () => undefined);
    const held: Event[] = [];
    /** How much the snapshot showed; undefined until it is sent. */
    let shown: Extent | undefined;
    const unsubscribe = this.deps.bus.subscribe(id, (event) => {
      if (shown !== undefined) return this.kind.shownBy(shown, event) ? undefined : this.deliver(socket, id, event, unsubscribe);
      if (held.length < MAX_HELD_EVENTS) return void held.push(event);
      this.deps.logger.warn('dropped a live watcher whose snapshot took too long', { [`${noun}Id`]: id, heldEvents: held.length });
      unsubscribe();
      socket.terminate();
    });
    socket.on('close', unsubscribe);
    let view: View | undefined;
    try {
      view = await this.kind.snapshot(id);
    } catch (err) {
      this.deps.logger.error(`could not read the ${noun} for a live watcher`, { [`${noun}Id`]: id, error: toError(err).message });
      unsubscribe();
      return socket.close(CLOSE_SNAPSHOT_FAILED, `${noun} could not be read`);
    }
    if (!view) {
      unsubscribe();
      return socket.close(CLOSE_TASK_NOT_FOUND, `${noun} not found`);
    }
    if (socket.readyState !== socket.OPEN) return unsubscribe();
    socket.send(JSON.stringify(this.kind.snapshotMessage(view)));
    shown = this.kind.extent(view);
    for (const event of held.splice(0)) if (!this.kind.shownBy(shown, event)) this.deliver(socket, id, event, unsubscribe);
    // Watchers only listen; anything they send is ignored.
  }

  private deliver(socket: WebSocket, id: string, event: Event, unsubscribe: () => void): void {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > this.maxBufferedBytes) {
      this.deps.logger.warn('dropped a live watcher that reads too slowly', { [`${this.kind.noun}Id`]: id, bufferedBytes: socket.bufferedAmount });
      unsubscribe();
      socket.terminate();
      return;
    }
    socket.send(this.encode(event));
  }

  /** The message as watchers see it: a stored event without its place. */
  private encode(event: Event): string {
    let text = this.encoded.get(event);
    if (text === undefined) this.encoded.set(event, (text = JSON.stringify(this.kind.message(event))));
    return text;
  }
}

export interface LiveWatchersDeps {
  bus: LiveBus;
  /** The task as a watcher first sees it; undefined when there is no such task. */
  snapshot: (taskId: string) => Promise<TaskView | undefined>;
  /** For an id that is no task: the call as a watcher first sees it; undefined when there is no such call. */
  callSnapshot?: (callId: string) => Promise<CallView | undefined>;
  logger: Logger;
  maxBufferedBytes?: number;
}

/** A task's or a call's first message, and what it shows. */
interface FirstMessage {
  message: LiveMessage;
  shown: Shown;
}

/** Watchers of tasks and calls (WS /ws/call/{id}): an id names a task, else a call. */
export class LiveWatchers extends Watchers<FirstMessage, LiveEvent, Shown> {
  constructor(deps: LiveWatchersDeps) {
    super({
      bus: deps.bus,
      logger: deps.logger,
      ...(deps.maxBufferedBytes !== undefined && { maxBufferedBytes: deps.maxBufferedBytes }),
      kind: {
        noun: 'task',
        snapshot: (id) => firstMessage(deps, id),
        snapshotMessage: (first) => first.message,
        extent: (first) => first.shown,
        shownBy,
        message: toMessage,
      },
    });
  }
}

/** The snapshot of the task with this id, else of the call with it. */
async function firstMessage(deps: LiveWatchersDeps, id: string): Promise<FirstMessage | undefined> {
  const task = await deps.snapshot(id);
  if (task) return { message: { type: 'snapshot', task }, shown: { history: task.history.length, transcript: task.transcript.length, events: 0, analysis: task.analysis } };
  const call = await deps.callSnapshot?.(id);
  if (call) return { message: { type: 'call_snapshot', call }, shown: { history: 0, transcript: call.transcript.length, events: call.events.length, analysis: undefined } };
  return undefined;
}

function toMessage(event: LiveEvent): LiveMessage {
  if (event.type === 'status' || event.type === 'transcript' || event.type === 'call_event') {
    const { seq: _place, ...message } = event;
    return message;
  }
  return event;
}

/** The snapshot's extent: its history entries, transcript lines and timeline events, and the analysis it showed. */
interface Shown {
  history: number;
  transcript: number;
  events: number;
  /** Cleared once an identical result has been dropped: a later one is news (an operator's retry). */
  analysis: TaskView['analysis'];
}

/** Whether `event` is a stored one the snapshot holds: a status change or line at a place it shows. */
function placedIn(shown: Shown, event: LiveEvent): boolean {
  if (event.type === 'status') return event.seq < shown.history;
  if (event.type === 'transcript') return event.seq < shown.transcript;
  if (event.type === 'call_event') return event.seq < shown.events;
  return false;
}

/**
 * Whether the snapshot already shows `event`, which may have arrived while it was read or, relayed
 * from another process, after. Latency figures and the stream's end are not part of a task, so it
 * never holds them; an analysis is there when it is the same result, the first time it comes.
 */
function shownBy(shown: Shown, event: LiveEvent): boolean {
  if (event.type !== 'analysis') return placedIn(shown, event);
  const { type: _type, ...state } = event;
  if (shown.analysis === undefined || !isDeepStrictEqual(shown.analysis, state)) return false;
  shown.analysis = undefined;
  return true;
}
