// The persistence service (the original's Django back office): where finished calls and room
// sessions are delivered, with which token, and how patiently. Read with the rest of the
// configuration (config.ts); unset DJANGO_BASE_URL turns the whole feature off.
import type { EnvReader } from './env-reader.js';

export interface PersistenceConfig {
  /** DJANGO_BASE_URL without a trailing slash; a path prefix is kept (`https://backoffice.example.com/voice`). */
  baseUrl: string;
  /** INGEST_TOKEN: sent as `Authorization: Bearer <token>` on every request; never logged. */
  ingestToken: string;
  /** How long `POST /session` waits for the service's verdict before answering 502. */
  validateTimeoutMs: number;
  /** How long one delivery may take before it counts as failed and is retried. */
  ingestTimeoutMs: number;
  /** The first retry's delay; each later one doubles, up to retryMaxMs. */
  retryMinMs: number;
  retryMaxMs: number;
}

/** Undefined (the feature off) without DJANGO_BASE_URL; with it, INGEST_TOKEN is required. */
export function readPersistence(read: EnvReader): PersistenceConfig | undefined {
  const baseUrl = read.optionalUrl('DJANGO_BASE_URL', ['http:', 'https:']);
  const ingestToken = read.optional('INGEST_TOKEN');
  const settings = {
    validateTimeoutMs: read.int('DJANGO_VALIDATE_TIMEOUT_MS', 3000, 10, 60_000),
    ingestTimeoutMs: read.int('INGEST_TIMEOUT_MS', 10_000, 10, 600_000),
    retryMinMs: read.int('INGEST_RETRY_MIN_MS', 1000, 1, 3_600_000),
    retryMaxMs: read.int('INGEST_RETRY_MAX_MS', 300_000, 1, 86_400_000),
  };
  if (settings.retryMaxMs < settings.retryMinMs) read.problem('INGEST_RETRY_MAX_MS', 'must not be below INGEST_RETRY_MIN_MS');
  if (baseUrl === undefined) return undefined;
  const url = new URL(baseUrl);
  // fetch refuses such a URL, and the credential belongs in INGEST_TOKEN.
  if (url.username || url.password) return read.problem('DJANGO_BASE_URL', 'must not hold a user or password: the service is authenticated with INGEST_TOKEN');
  if (url.search || url.hash) return read.problem('DJANGO_BASE_URL', 'must be a base URL without a query or fragment: the paths are appended to it');
  if (ingestToken === undefined) return read.problem('INGEST_TOKEN', 'is required when DJANGO_BASE_URL is set: every request to the persistence service carries it');
  return { baseUrl: baseUrl.replace(/\/+$/, ''), ingestToken, ...settings };
}

/** The service as a log line may name it: host and path, never a credential. */
export function describeServiceUrl(baseUrl: string): string {
  const url = new URL(baseUrl);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}
