// Putting the room agent into a room and taking it out again, through LiveKit's agent dispatch
// API (Twirp over HTTP). LiveKit's failures become one error type whose message says what went
// wrong in words a client may read: the status and code LiveKit gave, never a key or a token.
import { AgentDispatchClient } from 'livekit-server-sdk';
import type { LiveKitServer } from './livekit-server.js';

export interface AgentDispatcher {
  /** Dispatches the agent into `room` with `metadata` (its job reads it); resolves with the dispatch id. Rejects with LiveKitError. */
  dispatch(room: string, metadata: string): Promise<string>;
  /** Deletes the dispatch; `gone` when LiveKit no longer has it (already deleted, or the room closed). Rejects with LiveKitError. */
  cancel(room: string, dispatchId: string): Promise<'deleted' | 'gone'>;
}

export class LiveKitError extends Error {
  constructor(
    message: string,
    /** LiveKit's HTTP status; undefined when it could not be reached. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'LiveKitError';
  }
}

/** A POST /session waits on LiveKit: past this it answers 502 rather than hang. */
const REQUEST_TIMEOUT_S = 10;

export class LiveKitDispatcher implements AgentDispatcher {
  private readonly client: AgentDispatchClient;
  private readonly host: string;

  constructor(
    server: LiveKitServer,
    private readonly agentName: string,
  ) {
    this.client = new AgentDispatchClient(server.url, server.apiKey, server.apiSecret, { requestTimeout: REQUEST_TIMEOUT_S });
    this.host = new URL(server.url).host;
  }

  async dispatch(room: string, metadata: string): Promise<string> {
    try {
      const created = await this.client.createDispatch(room, this.agentName, { metadata });
      if (!created.id) throw new LiveKitError('LiveKit created the dispatch without an id');
      return created.id;
    } catch (error) {
      throw this.explain('create the agent dispatch', error);
    }
  }

  async cancel(room: string, dispatchId: string): Promise<'deleted' | 'gone'> {
    try {
      await this.client.deleteDispatch(dispatchId, room);
      return 'deleted';
    } catch (error) {
      if (statusOf(error) === 404) return 'gone';
      throw this.explain('delete the agent dispatch', error);
    }
  }

  private explain(what: string, error: unknown): LiveKitError {
    if (error instanceof LiveKitError) return error;
    const status = statusOf(error);
    if (status === undefined) return new LiveKitError(`could not ${what}: LiveKit at ${this.host} could not be reached (${reasonOf(error)})`);
    const code = (error as { code?: unknown }).code;
    return new LiveKitError(`could not ${what}: LiveKit at ${this.host} answered ${status}${typeof code === 'string' ? ` (${code})` : ''}`, status);
  }
}

/** The HTTP status of a TwirpError; undefined for a transport failure (refused, timed out). */
function statusOf(error: unknown): number | undefined {
  const status = typeof error === 'object' && error !== null ? (error as { status?: unknown }).status : undefined;
  return typeof status === 'number' ? status : undefined;
}

/** A transport failure in a few words: fetch's own message hides the cause one level down. */
function reasonOf(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return `no answer within ${REQUEST_TIMEOUT_S} s`;
  const cause = error.cause instanceof Error ? error.cause : undefined;
  return (cause as { code?: string } | undefined)?.code ?? cause?.message ?? error.message;
}
