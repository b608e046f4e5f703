// The room agent's transcript: each user and assistant message the session adds to its chat
// becomes one line, sent to the session's sink (the record, the transcript socket) and published on
// the room's data channel for the browser. Both keep the session's order: each destination gets
// its lines one after the other, and a failure of one never stops the other or the session.
import { voice, type llm } from '@livekit/agents';
import type { Logger } from '../telemetry/logger.js';
import type { RoomSessionSink } from './session-events.js';
import type { SessionLine as RoomTranscriptLine } from './store.js';

/** The data channel topic of transcript lines. */
export const TRANSCRIPT_TOPIC = 'transcript';

/**
 * One line on the data channel (reliable, topic `transcript`), UTF-8 JSON, e.g.
 * `{"type":"transcript","session_id":"…","role":"assistant","text":"Hello","at_ms":1840,"interrupted":true}`.
 * `interrupted` is present only when true.
 */
export interface TranscriptDataMessage {
  type: 'transcript';
  session_id: string;
  role: RoomTranscriptLine['role'];
  text: string;
  at_ms: number;
  interrupted?: true;
}

/** What the transcript needs of the room: its local participant's publishData (rtc-node's signature). */
export interface DataPublisher {
  publishData(data: Uint8Array, options: { reliable: boolean; topic?: string }): Promise<void>;
}

export interface RoomTranscriptOptions {
  sessionId: string;
  sink: RoomSessionSink;
  /** The agent's participant once it has joined; undefined before (nothing is published then). */
  publisher: () => DataPublisher | undefined;
  /** Epoch ms the lines' `atMs` counts from: the job's start. */
  startedAt: number;
  logger: Logger;
}

export class RoomTranscript {
  private toSink = Promise.resolve();
  private toRoom = Promise.resolve();
  private readonly encoder = new TextEncoder();

  constructor(private readonly options: RoomTranscriptOptions) {}

  /** Follows the session's chat from now on. */
  attach(session: voice.AgentSession): void {
    session.on(voice.AgentSessionEventTypes.ConversationItemAdded, (ev) => this.add(ev.item));
  }

  /** Resolves once every line so far has been handed to both destinations. */
  async settled(): Promise<void> {
    await Promise.all([this.toSink, this.toRoom]);
  }

  private add(item: llm.ChatItem): void {
    const line = transcriptLine(item, this.options.startedAt);
    if (!line) return;
    const { sessionId, sink, logger } = this.options;
    this.toSink = this.toSink.then(() =>
      sink.line(sessionId, line).catch((error: Error) => {
        logger.error('a room transcript line could not be recorded', { sessionId, role: line.role, error: error.message });
      }),
    );
    const publisher = this.options.publisher();
    if (!publisher) return;
    const data = this.encoder.encode(JSON.stringify(dataMessage(sessionId, line)));
    this.toRoom = this.toRoom.then(() =>
      publisher.publishData(data, { reliable: true, topic: TRANSCRIPT_TOPIC }).catch((error: Error) => {
        logger.warn('a room transcript line could not be published on the data channel', { sessionId, error: error.message });
      }),
    );
  }
}

/**
 * The line of a chat item, or undefined for what is not one: tool calls and handoffs, system
 * messages, an empty user turn. An assistant reply cut before a word was heard still counts: the
 * room heard it start.
 */
export function transcriptLine(item: llm.ChatItem, startedAt: number): RoomTranscriptLine | undefined {
  if (item.type !== 'message' || (item.role !== 'user' && item.role !== 'assistant')) return undefined;
  const text = (item.textContent ?? '').trim();
  const interrupted = item.role === 'assistant' && item.interrupted;
  if (!text && !interrupted) return undefined;
  const atMs = Math.max(0, Math.round(item.createdAt - startedAt));
  return { role: item.role, text, atMs, ...(interrupted && { interrupted: true }) };
}

export function dataMessage(sessionId: string, line: RoomTranscriptLine): TranscriptDataMessage {
  return {
    type: 'transcript',
    session_id: sessionId,
    role: line.role,
    text: line.text,
    at_ms: line.atMs,
    ...(line.interrupted && { interrupted: true }),
  };
}
