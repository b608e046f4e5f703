// DATABASE_URL handling that is safe to log: a connection URL carries a password.

export const POSTGRES_PROTOCOLS = ['postgres:', 'postgresql:'];

/**
 * `host:port/database` of a PostgreSQL URL, for logs and the start-up banner: never the user, the
 * password or the query (which may hold `password=` or an sslkey path).
 */
export function describeDatabaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'an unreadable DATABASE_URL';
  }
  // A socket directory may be given as ?host=/run/postgresql when the URL has no host.
  const host = parsed.host || parsed.searchParams.get('host') || 'localhost';
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || '(the user name)';
  return `${host}/${database}`;
}
