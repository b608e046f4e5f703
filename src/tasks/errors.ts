// Why a task operation was refused. The service throws these; the routes turn each code into its
// HTTP status, so the service knows nothing of HTTP.
import type { FieldError } from '../util/field-error.js';
import { clip } from '../util/text.js';

export type TaskErrorCode =
  /** The body or query is not valid; `details` names each bad field. */
  | 'invalid_request'
  | 'task_not_found'
  /** POST /call on a task that was already dialed. */
  | 'call_already_placed'
  /** POST /call on a task that ended (canceled, failed) before it was dialed. */
  | 'task_finished'
  /** POST /stop while the REST request that places the call has not returned its CallSid. */
  | 'call_not_placed_yet'
  /** The analysis was asked for before the call ended. */
  | 'call_not_ended'
  /** The call ended without a conversation (busy, no-answer, failed, canceled): nothing to analyze. */
  | 'no_conversation'
  | 'recording_not_found'
  | 'twilio_not_configured'
  | 'public_url_not_configured'
  /** Twilio refused or failed a REST request; the message carries its code and reason. */
  | 'twilio_error';

export class TaskError extends Error {
  constructor(
    readonly code: TaskErrorCode,
    message: string,
    readonly details?: FieldError[],
  ) {
    super(message);
    this.name = 'TaskError';
  }
}

// A client's id is echoed clipped: enough to recognise it, never a 10 kB copy of a bad request.
export const taskNotFound = (id: string): TaskError => new TaskError('task_not_found', `no task with id "${clip(id)}"`);
