// Every status change goes through here, so each one is stored, kept in the history and
// announced to live watchers in one place, and a refused move is logged instead of thrown.
import type { LiveBus } from '../live/bus.js';
import type { Logger } from '../telemetry/logger.js';
import { canTransition, type Task, type TaskStatus } from './model.js';
import { TaskNotFoundError, type TaskStore, type TransitionPatch } from './store.js';

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
  ) {}

  move(id: string, to: TaskStatus, patch: TransitionPatch, source: ChangeSource): MoveResult {
    const current = this.store.get(id);
    if (!current) return { moved: false, why: 'not_found' };
    if (current.status === to) return { moved: false, why: 'unchanged', task: current };
    if (!canTransition(current.status, to)) {
      this.logger.warn('ignored a status change the task cannot make', { taskId: id, from: current.status, to, source });
      return { moved: false, why: 'not_allowed', task: current };
    }
    try {
      const task = this.store.transition(id, to, patch, source);
      const change = task.history.at(-1);
      this.bus.publish(id, { type: 'status', status: to, at: change?.at ?? task.updatedAt });
      return { moved: true, task };
    } catch (err) {
      // Only a task deleted under us gets here: the store is synchronous, so nothing else
      // can change the status between the check above and the write.
      if (err instanceof TaskNotFoundError) return { moved: false, why: 'not_found' };
      throw err;
    }
  }
}
