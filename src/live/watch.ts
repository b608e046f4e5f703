// One watcher socket on a task: the snapshot first, then every event the bus carries for it,
// each once and in order. A watcher that reads too slowly is dropped, so its buffer can never
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

export interface LiveWatchersDeps {
  bus: LiveBus;
  /** The task as a watcher first sees it; undefined when there is no such task. */
  snapshot: (taskId: string) => Promise<TaskView | undefined>;
  /** For an id that is no task: the call as a watcher first sees it; undefined when there is no such call. */
  callSnapshot?: (callId: string) => Promise<CallView | undefined>;
  logger: Logger;
  maxBufferedBytes?: number;
}

/** Close code for a task that vanished between the upgrade check and the socket opening. */
export const CLOSE_TASK_NOT_FOUND = 4404;
/** Close code when the task could not be read (the store failed). */
export const CLOSE_SNAPSHOT_FAILED = 1011;

export class LiveWatchers {
  /** Each event is serialized once, however many watchers it goes to. */
  private readonly encoded = new WeakMap<LiveEvent, string>();
  private readonly maxBufferedBytes: number;

  constructor(private readonly deps: LiveWatchersDeps) {
    this.maxBufferedBytes = deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  /**
   * Subscribes first and reads the snapshot after, holding what the bus carries meanwhile: an
   * event stored before the read is in the snapshot, one stored after it is held, and the held
   * ones the snapshot already has are dropped by their place in the task (see Placed). A stored
   * event relayed late from another process is dropped the same way after the snapshot too.
   */
  async attach(socket: WebSocket, taskId: string): Promise<void> {
    socket.on('error', () => undefined);
    const held: LiveEvent[] = [];
    /** How much of the task the snapshot showed; undefined until it is sent. */
    let shown: Shown | undefined;
    const unsubscribe = this.deps.bus.subscribe(taskId, (event) => {
      if (shown !== undefined) return shownBy(shown, event) ? undefined : this.deliver(socket, taskId, event, unsubscribe);
      if (held.length < MAX_HELD_EVENTS) return void held.push(event);
      this.deps.logger.warn('dropped a live watcher whose snapshot took too long', { taskId, heldEvents: held.length });
      unsubscribe();
      socket.terminate();
    });
    socket.on('close', unsubscribe);
    let first: { message: LiveMessage; shown: Shown } | undefined;
    try {
      first = await this.firstMessage(taskId);
    } catch (err) {
      this.deps.logger.error('could not read the task for a live watcher', { taskId, error: toError(err).message });
      unsubscribe();
      return socket.close(CLOSE_SNAPSHOT_FAILED, 'task could not be read');
    }
    if (!first) {
      unsubscribe();
      return socket.close(CLOSE_TASK_NOT_FOUND, 'task not found');
    }
    if (socket.readyState !== socket.OPEN) return unsubscribe();
    socket.send(JSON.stringify(first.message));
    shown = first.shown;
    for (const event of held.splice(0)) if (!shownBy(shown, event)) this.deliver(socket, taskId, event, unsubscribe);
    // Watchers only listen; anything they send is ignored.
  }

  /** The snapshot of the task with this id, else of the call with it. */
  private async firstMessage(id: string): Promise<{ message: LiveMessage; shown: Shown } | undefined> {
    const task = await this.deps.snapshot(id);
    if (task) return { message: { type: 'snapshot', task }, shown: { history: task.history.length, transcript: task.transcript.length, events: 0, analysis: task.analysis } };
    const call = await this.deps.callSnapshot?.(id);
    if (call) return { message: { type: 'call_snapshot', call }, shown: { history: 0, transcript: call.transcript.length, events: call.events.length, analysis: undefined } };
    return undefined;
  }

  private deliver(socket: WebSocket, taskId: string, event: LiveEvent, unsubscribe: () => void): void {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > this.maxBufferedBytes) {
      this.deps.logger.warn('dropped a live watcher that reads too slowly', { taskId, bufferedBytes: socket.bufferedAmount });
      unsubscribe();
      socket.terminate();
      return;
    }
    socket.send(this.encode(event));
  }

  /** The message as watchers see it: a stored event without its place. */
  private encode(event: LiveEvent): string {
    let text = this.encoded.get(event);
    if (text === undefined) this.encoded.set(event, (text = JSON.stringify(toMessage(event))));
    return text;
  }
}

function toMessage(event: LiveEvent): LiveMessage {
  if (event.type === 'status' || event.type === 'transcript' || event.type === 'call_event') {
    const { seq: _place, ...message } = event;
    return message;
  }
  return event;
}

/** The snapshot's extent: its history entries, transcript lines and call events, and the analysis it showed. */
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
