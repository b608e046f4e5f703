// What the API shows of a room session: the store's record in the API's snapshot shape. The
// idempotency key and the agent's job id stay inside the gateway.
import type { SessionSummaryView, SessionView, TranscriptLineView } from './schemas.js';
import type { RoomSession, SessionLine, SessionSummary } from './store.js';

export function lineView(line: SessionLine): TranscriptLineView {
  return { role: line.role, text: line.text, at_ms: line.atMs, ...(line.interrupted && { interrupted: true }) };
}

export function sessionSummaryView(session: SessionSummary): SessionSummaryView {
  return {
    session_id: session.id,
    room: session.room,
    ...(session.identity !== undefined && { identity: session.identity }),
    state: session.state,
    ...(session.dispatchId !== undefined && { dispatch_id: session.dispatchId }),
    ...(session.systemPrompt !== undefined && { system_prompt: session.systemPrompt }),
    ...(session.greeting !== undefined && { greeting: session.greeting }),
    ...(session.metadata !== undefined && { metadata: session.metadata }),
    ...(session.participant !== undefined && { participant: session.participant }),
    created_at: session.createdAt,
    ...(session.startedAt !== undefined && { started_at: session.startedAt }),
    ...(session.endedAt !== undefined && { ended_at: session.endedAt }),
    ...(session.endReason !== undefined && { end_reason: session.endReason }),
  };
}

export function sessionView(session: RoomSession): SessionView {
  return { ...sessionSummaryView(session), transcript: session.transcript.map(lineView) };
}
