// Every status change goes through here, so each one is stored, kept in the history and
// announced to live watchers in one place, and a refused move is logged instead of thrown.
import type { LiveBus } from '../live/bus.js';
import type { TaskMeters } from '../metrics/meters.js';
import type { Logger } from '../telemetry/logger.js';
import type { Task, TaskStatus } from './model.js';
import { InvalidTransitionError, TaskNotFoundError, type TaskStore, type TransitionPatch } from './store.js';

/** Who caused a change, recorded in the history. */
export type ChangeSource = 'api' | 'twilio-status' | 'media-stream' | 'restart';

export type MoveResult =
  | { moved: true; task: Task }
  /** Already there: a repeated callback or a second path reporting the same fact. */
  | { moved: false; why: 'unchanged'; task: Task }
  /** The state machine forbids it (e.g. ringing after in-progress); logged. */
  | { moved: false; why: 'not_allowed'; task: Task }
  | { moved: false; why: 'not_found' };

export class TaskTransitions {
  constructor(
    private readonly store: TaskStore,
    private readonly bus: LiveBus,
    private readonly logger: Logger,
    private readonly metrics?: TaskMeters,
  ) {}

  /**
   * The store checks the move in the transaction that makes it, so of two processes moving the
   * same task at once, one moves and the other hears why not; no read here can go stale.
   */
  async move(id: string, to: TaskStatus, patch: TransitionPatch, source: ChangeSource): Promise<MoveResult> {
    try {
      const task = await this.store.transition(id, to, patch, source);
      const seq = task.history.length - 1;
      this.bus.publish(id, { type: 'status', status: to, at: task.history[seq]?.at ?? task.updatedAt, seq });
      this.metrics?.statusChanged(to);
      return { moved: true, task };
    } catch (err) {
      if (err instanceof TaskNotFoundError) return { moved: false, why: 'not_found' };
      if (!(err instanceof InvalidTransitionError)) throw err;
      // The task as it is now, for the caller's answer; the refusal itself was decided above.
      const current = await this.store.get(id);
      if (!current) return { moved: false, why: 'not_found' };
      if (err.from === to) return { moved: false, why: 'unchanged', task: current };
      this.logger.warn('ignored a status change the task cannot make', { taskId: id, from: err.from, to, source });
      return { moved: false, why: 'not_allowed', task: current };
    }
  }
}
