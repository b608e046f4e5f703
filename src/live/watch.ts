// One watcher socket on a task: the snapshot first, then every event the bus carries for it.
// A watcher that reads too slowly is dropped, so its buffer can never grow without bound and
// the call that feeds it never waits.
import type WebSocket from 'ws';
import type { Logger } from '../telemetry/logger.js';
import type { TaskView } from '../tasks/view.js';
import type { LiveBus, LiveEvent, LiveMessage } from './bus.js';
import { inSnapshot } from './snapshot-overlap.js';

/** Bytes a watcher may leave unread before it is dropped. */
export const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

export interface LiveWatchersDeps {
  bus: LiveBus;
  /** The task as a watcher first sees it; undefined when there is no such task. */
  snapshot: (taskId: string) => TaskView | undefined;
  logger: Logger;
  maxBufferedBytes?: number;
}

/** Close code for a task that vanished between the upgrade check and the socket opening. */
export const CLOSE_TASK_NOT_FOUND = 4404;

export class LiveWatchers {
  /** Each event is serialized once, however many watchers it goes to. */
  private readonly encoded = new WeakMap<LiveEvent, string>();
  private readonly maxBufferedBytes: number;

  constructor(private readonly deps: LiveWatchersDeps) {
    this.maxBufferedBytes = deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
  }

  attach(socket: WebSocket, taskId: string): void {
    socket.on('error', () => undefined);
    // Snapshot and subscription in the same tick: no event can fall between them.
    const task = this.deps.snapshot(taskId);
    if (!task) return socket.close(CLOSE_TASK_NOT_FOUND, 'task not found');
    socket.send(JSON.stringify({ type: 'snapshot', task } satisfies LiveMessage));
    // In a fleet an event may arrive after the snapshot already showed it: never twice.
    const shown = inSnapshot(task);
    const unsubscribe = this.deps.bus.subscribe(taskId, (event) => shown(event) || this.deliver(socket, taskId, event, unsubscribe));
    socket.on('close', unsubscribe);
    // Watchers only listen; anything they send is ignored.
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

  private encode(event: LiveEvent): string {
    let text = this.encoded.get(event);
    if (text === undefined) this.encoded.set(event, (text = JSON.stringify(event)));
    return text;
  }
}
