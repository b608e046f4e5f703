// Why a call operation was refused. The service throws these; the routes give each code its HTTP
// status, so the service knows nothing of HTTP.
import type { FieldError } from '../util/field-error.js';
import { clip } from '../util/text.js';

export type CallErrorCode =
  /** The query or body is not valid; `details` names each bad field. */
  | 'invalid_request'
  | 'call_not_found'
  | 'recording_not_found'
  /** The analysis was asked for before the call ended. */
  | 'call_not_ended'
  /** The agent keeps no transcript (the echo agent): there is nothing to analyze. */
  | 'no_transcript'
  /** The call ended before it streamed (a browser call never opened): nothing to analyze. */
  | 'no_conversation';

export const CALL_ERROR_STATUS: Readonly<Record<CallErrorCode, number>> = {
  invalid_request: 400,
  call_not_found: 404,
  recording_not_found: 404,
  call_not_ended: 409,
  no_transcript: 409,
  no_conversation: 409,
};

export class CallError extends Error {
  constructor(
    readonly code: CallErrorCode,
    message: string,
    readonly details?: FieldError[],
  ) {
    super(message);
    this.name = 'CallError';
  }
}

export const callNotFound = (id: string): CallError => new CallError('call_not_found', `no call with id "${clip(id)}"`);
