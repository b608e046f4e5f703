// Where the room agent's session events go. R1's rooms API implements this interface (it writes
// to the session store and publishes on the live bus, src/rooms/session-events.ts); it is declared
// here too until the branches meet, and the lead points the imports at R1's.

/** One transcript line of a room session. */
export interface RoomTranscriptLine {
  role: 'user' | 'assistant';
  text: string;
  /** Milliseconds since the agent's job started. */
  atMs: number;
  /** The agent was cut off; `text` holds what the room heard of the reply. */
  interrupted?: boolean;
}

export interface RoomSessionSink {
  started(sessionId: string, info: { participant?: string; jobId?: string }): Promise<void>;
  line(sessionId: string, line: RoomTranscriptLine): Promise<void>;
  ended(sessionId: string, reason: string): Promise<void>;
}
