// The event bus behind WS /ws/call/{id} (and, on a topic of its own, /ws/transcript/{id}): what happens to a task or a call (keyed by its id), as typed messages, fanned out to
// whoever watches it, in any member of the fleet. Publishing goes through the fleet channel and
// delivery comes back from it, so a watcher on one worker sees every event of a call on another,
// once and in the channel's one order. Publishing is called from the call's path (transcript
// lines, latency), so it never throws; in one process (LocalChannel) delivery is synchronous.
import { LocalChannel, type FleetChannel } from '../fleet/channel.js';
import type { AnalysisState, TaskStatus, TranscriptLine } from '../tasks/model.js';
import type { TaskView } from '../tasks/view.js';
import type { CallEvent, CallStatus, CallView } from '../calls/schemas.js';

/** First message on every watcher socket: the task as it is now, transcript so far included. */
export interface SnapshotMessage {
  type: 'snapshot';
  task: TaskView;
}

export interface StatusMessage {
  type: 'status';
  status: TaskStatus;
  /** ISO 8601, as recorded in the task's history. */
  at: string;
}

export interface TranscriptMessage {
  type: 'transcript';
  line: TranscriptLine;
}

export interface LatencyMessage {
  type: 'latency';
  /** e.g. `turn_latency`: end of the caller's speech to the agent's first audio. */
  metric: string;
  ms: number;
}

export interface CallEndedMessage {
  type: 'call_ended';
  /** Why the media stream ended, e.g. `twilio_stop`, `agent_hangup`, `socket_closed`. */
  reason: string;
  durationMs: number;
  /** Whether a WAV was kept: GET /api/tasks/{id}/audio serves it. */
  recording: boolean;
}

/** First message on a call's watcher socket (/ws/call/{call id}): the call as it is now. */
export interface CallSnapshotMessage {
  type: 'call_snapshot';
  call: CallView;
}

export interface CallStatusMessage {
  type: 'call_status';
  status: CallStatus;
}

/** A timeline event of a call (turn, barge-in, DTMF press, agent error), placed by its index in the call's events. */
export interface CallEventMessage {
  type: 'call_event';
  event: CallEvent;
}

/** Sent once the analysis settles: ready, or failed with a reason. */
export type AnalysisMessage = { type: 'analysis' } & Exclude<AnalysisState, { state: 'pending' }>;

/**
 * Where a stored event sits in its task: the index of the status change in the task's history,
 * of the line in its transcript. A watcher's snapshot is read after it subscribed, so an event
 * may reach it both in the snapshot and on the bus; the index tells which ones the snapshot
 * already holds. Carried by the bus (and whatever relays it between processes), never sent to
 * watchers.
 */
export interface Placed {
  seq: number;
}

/** Everything the bus carries: what a watcher receives after the snapshot, stored events placed. */
export type LiveEvent =
  | (StatusMessage & Placed)
  | (TranscriptMessage & Placed)
  | (CallEventMessage & Placed)
  | CallStatusMessage
  | LatencyMessage
  | CallEndedMessage
  | AnalysisMessage;

/** Everything a watcher socket receives. */
export type LiveMessage =
  | SnapshotMessage
  | CallSnapshotMessage
  | StatusMessage
  | CallStatusMessage
  | TranscriptMessage
  | CallEventMessage
  | LatencyMessage
  | CallEndedMessage
  | AnalysisMessage;

export type LiveListener<E = LiveEvent> = (event: E) => void;

const LIVE_TOPIC = 'live';

interface LiveEnvelope<E> {
  taskId: string;
  event: E;
}

/** Events of tasks by default; another kind of watched thing (room sessions) passes its own event type and topic. */
export class LiveBus<E = LiveEvent> {
  private readonly listeners = new Map<string, Set<LiveListener<E>>>();

  /** `onListenerError` hears about a listener that threw; the publisher never does. */
  constructor(
    private readonly onListenerError: (taskId: string, error: Error) => void = () => undefined,
    private readonly channel: FleetChannel = new LocalChannel(),
    private readonly topic: string = LIVE_TOPIC,
  ) {
    channel.subscribe<LiveEnvelope<E>>(topic, ({ taskId, event }) => this.deliver(taskId, event));
  }

  /** Returns the unsubscribe function; calling it twice is harmless. */
  subscribe(taskId: string, listener: LiveListener<E>): () => void {
    let set = this.listeners.get(taskId);
    if (!set) this.listeners.set(taskId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.listeners.get(taskId) === set) this.listeners.delete(taskId);
    };
  }

  publish(taskId: string, event: E): void {
    this.channel.publish(this.topic, { taskId, event } satisfies LiveEnvelope<E>);
  }

  private deliver(taskId: string, event: E): void {
    const set = this.listeners.get(taskId);
    if (!set) return;
    // A copy: a listener may unsubscribe itself (a slow watcher being dropped) mid-loop.
    for (const listener of [...set]) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(taskId, err as Error);
      }
    }
  }

  watcherCount(taskId: string): number {
    return this.listeners.get(taskId)?.size ?? 0;
  }
}
