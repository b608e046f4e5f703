// The persistence service over HTTP: the validation question for a new room session, and the
// delivery of one outbox record. Every request carries the INGEST_TOKEN as a Bearer token; the
// token never reaches a log, an error message or a stored error.
import type { PersistenceConfig } from '../config.js';
import { toError } from '../util/errors.js';
import type { ClaimedEntry, RecordKind } from './outbox.js';
import { SessionValidationResponse, type SessionValidationRequest } from './schemas.js';

/** Where each kind of record goes, under DJANGO_BASE_URL. */
export const INGEST_PATHS: Readonly<Record<RecordKind, string>> = {
  call: '/api/ingest/calls',
  session: '/api/ingest/sessions',
};
export const VALIDATE_PATH = '/api/sessions/validate';

/** How one delivery went: settled (delivered, or refused for good), or worth another try. */
export type DeliveryOutcome =
  | { result: 'delivered'; status: number }
  | { result: 'rejected'; status: number; error: string }
  | { result: 'retry'; status?: number; error: string };

export type ValidationOutcome =
  | { verdict: 'allowed' }
  | { verdict: 'denied'; reason: string | undefined }
  | { verdict: 'unreachable'; status?: number; error: string };

/**
 * 4xx answers that say "not now" rather than "never": retried like a 5xx. 401/403 among them: a
 * wrong INGEST_TOKEN or a service mid-deploy is the operator's to fix, and every record is good
 * once it is; failing them for good would need each one resent by hand.
 */
const TRANSIENT_4XX: ReadonlySet<number> = new Set([401, 403, 408, 425, 429]);
/** Enough of an error body to tell what the service disliked, no more. */
const MAX_BODY_CHARS = 200;

export class PersistenceClient {
  constructor(private readonly config: Pick<PersistenceConfig, 'baseUrl' | 'ingestToken' | 'validateTimeoutMs' | 'ingestTimeoutMs'>) {}

  /** Sends a claimed record as stored, byte for byte, with its idempotency key. `stop` aborts it (a closing gateway). */
  async deliver(entry: ClaimedEntry, stop?: AbortSignal): Promise<DeliveryOutcome> {
    const signals = [AbortSignal.timeout(this.config.ingestTimeoutMs), ...(stop ? [stop] : [])];
    let response: Response;
    try {
      response = await this.post(INGEST_PATHS[entry.kind], entry.body, AbortSignal.any(signals), { 'Idempotency-Key': entry.key });
    } catch (err) {
      return { result: 'retry', error: requestError(err, this.config.ingestTimeoutMs) };
    }
    const { status } = response;
    // 409: the service already has this key's record, so it is delivered.
    if ((status >= 200 && status < 300) || status === 409) {
      await response.body?.cancel();
      return { result: 'delivered', status };
    }
    const error = `HTTP ${status}${await bodyHint(response)}`;
    if (status >= 400 && status < 500 && !TRANSIENT_4XX.has(status)) return { result: 'rejected', status, error };
    return { result: 'retry', status, error };
  }

  /** Asks whether a session may start; any answer but a well-formed 200 in time is `unreachable`. */
  async validate(request: SessionValidationRequest): Promise<ValidationOutcome> {
    let response: Response;
    try {
      response = await this.post(VALIDATE_PATH, JSON.stringify(request), AbortSignal.timeout(this.config.validateTimeoutMs));
    } catch (err) {
      return { verdict: 'unreachable', error: requestError(err, this.config.validateTimeoutMs) };
    }
    if (response.status !== 200) return { verdict: 'unreachable', status: response.status, error: `HTTP ${response.status}${await bodyHint(response)}` };
    const parsed = SessionValidationResponse.safeParse(await response.json().catch(() => undefined));
    if (!parsed.success) return { verdict: 'unreachable', status: 200, error: 'the answer is not {"allowed": true|false, "reason"?: string}' };
    return parsed.data.allowed ? { verdict: 'allowed' } : { verdict: 'denied', reason: parsed.data.reason };
  }

  private post(path: string, body: string, signal: AbortSignal, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${this.config.baseUrl}${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${this.config.ingestToken}`, ...headers },
      body,
      signal,
      redirect: 'error',
    });
  }
}

/** A failed request in words: a timeout, a refused connection, a reset; never the request itself. */
function requestError(err: unknown, timeoutMs: number): string {
  const error = toError(err);
  if (error.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  if (error.name === 'AbortError') return 'the gateway stopped the request (closing)';
  // fetch's own message is a bare "fetch failed"; the cause says ECONNREFUSED, ENOTFOUND...
  const cause = (error as Error & { cause?: unknown }).cause;
  const detail = cause instanceof Error ? ((cause as Error & { code?: string }).code ?? cause.message) : undefined;
  return detail === undefined ? error.message : `${error.message}: ${detail}`;
}

/** `: <the first characters of the body>`, or nothing when it is empty or unreadable. */
async function bodyHint(response: Response): Promise<string> {
  const text = await response.text().catch(() => '');
  const trimmed = text.trim().replace(/\s+/g, ' ');
  if (trimmed === '') return '';
  return `: ${trimmed.length > MAX_BODY_CHARS ? `${trimmed.slice(0, MAX_BODY_CHARS)}…` : trimmed}`;
}
