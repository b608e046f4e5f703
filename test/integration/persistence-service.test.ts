// The persistence service as a real HTTP server on 127.0.0.1 (test/helpers/persistence-service.ts)
// against whole gateways: the session gatekeeper's three verdicts, and the outbox delivering every
// record exactly once through an outage (503s, then refused connections) and a gateway restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { FinishedRoomSession } from '../../src/persistence/index.js';
import { SessionRecord } from '../../src/persistence/schemas.js';
import { openSqliteOutbox } from '../../src/persistence/sqlite-outbox.js';
import { capturingLogger, type CapturingLogger } from '../helpers/capturing-logger.js';
import { FakePersistenceService, type ServiceRequest } from '../helpers/persistence-service.js';
import { freshDatabase, query } from '../helpers/postgres.js';
import { eventually } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const TOKEN = 'ingest-token-that-must-never-be-logged';

const finishedSession = (n: number): FinishedRoomSession => ({
  sessionId: `sess_${n}`,
  room: `room-${n}`,
  identity: n === 1 ? undefined : `user-${n}`,
  startedAt: '2026-12-03T11:00:00.000Z',
  endedAt: '2026-12-03T11:02:30.500Z',
  endReason: 'client_left',
  metadata: n === 1 ? undefined : { customer: { id: n }, note: 'ünïcode "quoted"' },
  transcript: [
    { role: 'assistant', text: 'Hello! How can I help?', atMs: 120 },
    { role: 'user', text: `I am caller ${n}.`, atMs: 2400.5 },
    { role: 'assistant', text: 'Let me', atMs: 4100, interrupted: true },
  ],
});

/** The session record the contract promises for finishedSession(n). */
const expectedRecord = (n: number) => ({
  session_id: `sess_${n}`,
  room: `room-${n}`,
  identity: n === 1 ? null : `user-${n}`,
  started_at: '2026-12-03T11:00:00.000Z',
  ended_at: '2026-12-03T11:02:30.500Z',
  end_reason: 'client_left',
  metadata: n === 1 ? null : { customer: { id: n }, note: 'ünïcode "quoted"' },
  transcript: [
    { role: 'assistant', text: 'Hello! How can I help?', at_ms: 120 },
    { role: 'user', text: `I am caller ${n}.`, at_ms: 2400.5 },
    { role: 'assistant', text: 'Let me', at_ms: 4100, interrupted: true },
  ],
});

const isIngest = (r: ServiceRequest) => r.path === '/api/ingest/sessions';

describe('the persistence service', function () {
  this.timeout(60_000);
  let service: FakePersistenceService;
  let root: string;
  let gateways: TestGateway[];

  const env = (extra: Record<string, string> = {}) => ({
    DATA_DIR: path.join(root, 'data'),
    RECORDINGS_DIR: path.join(root, 'recordings'),
    DJANGO_BASE_URL: `${service.baseUrl}/`,
    INGEST_TOKEN: TOKEN,
    INGEST_RETRY_MIN_MS: '20',
    INGEST_RETRY_MAX_MS: '200',
    ...extra,
  });
  const gateway = async (extra: Record<string, string> = {}, capture?: CapturingLogger): Promise<TestGateway> => {
    const t = await startTestGateway(env(extra), capture ? { logger: capture.logger } : {});
    gateways.push(t);
    return t;
  };
  const closeGateway = async (t: TestGateway) => {
    gateways = gateways.filter((g) => g !== t);
    await t.close();
  };

  beforeEach(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'persistence-'));
    gateways = [];
    service = new FakePersistenceService(TOKEN);
    await service.start();
  });
  afterEach(async () => {
    await Promise.all(gateways.map((t) => t.close()));
    await service.stop();
    rmSync(root, { recursive: true, force: true });
  });

  describe('validating a new session', () => {
    const request = { sessionId: 'sess_1', room: 'support-42', identity: 'alice', metadata: { plan: 'pro' } };

    it('answers allowed when the service says yes, sending the session as the contract says', async () => {
      const t = await gateway();
      expect(await t.gateway.persistence!.gatekeeper.mayStart(request)).to.equal('allowed');
      const [asked] = service.to('/api/sessions/validate');
      expect(asked?.headers.authorization).to.equal(`Bearer ${TOKEN}`);
      expect(asked?.headers['content-type']).to.equal('application/json');
      expect(JSON.parse(asked!.body)).to.deep.equal({ session_id: 'sess_1', room: 'support-42', identity: 'alice', metadata: { plan: 'pro' } });
    });

    it('answers denied when the service says no, and logs its reason', async () => {
      const capture = capturingLogger();
      const t = await gateway({}, capture);
      service.validate = () => ({ status: 200, json: { allowed: false, reason: 'room is closed' } });
      expect(await t.gateway.persistence!.gatekeeper.mayStart({ sessionId: 'sess_2', room: 'r' })).to.equal('denied');
      expect(JSON.parse(service.to('/api/sessions/validate')[0]!.body)).to.deep.equal({ session_id: 'sess_2', room: 'r', identity: null, metadata: null });
      expect(capture.lines.find((l) => l['message'] === 'the persistence service refused a session')).to.deep.include({ sessionId: 'sess_2', reason: 'room is closed' });
    });

    it('answers unreachable when the service does not answer within DJANGO_VALIDATE_TIMEOUT_MS', async () => {
      const capture = capturingLogger();
      const t = await gateway({ DJANGO_VALIDATE_TIMEOUT_MS: '200' }, capture);
      service.validate = () => 'hang';
      expect(await t.gateway.persistence!.gatekeeper.mayStart(request)).to.equal('unreachable');
      const line = capture.lines.find((l) => l['message'] === 'the persistence service did not validate a session in time');
      expect(line).to.deep.include({ sessionId: 'sess_1', error: 'no answer within 200 ms' });
      expect(capture.text()).not.to.contain(TOKEN);
    });

    it('answers unreachable when the service is down, errs, or answers something else than the contract', async () => {
      const t = await gateway();
      service.validate = () => ({ status: 500, json: { detail: 'boom' } });
      expect(await t.gateway.persistence!.gatekeeper.mayStart(request)).to.equal('unreachable');
      service.validate = () => ({ status: 200, json: { ok: true } });
      expect(await t.gateway.persistence!.gatekeeper.mayStart(request)).to.equal('unreachable');
      await service.stop();
      expect(await t.gateway.persistence!.gatekeeper.mayStart(request)).to.equal('unreachable');
    });
  });

  describe('delivering finished sessions', () => {
    it('delivers every record exactly once through 503s, refused connections and a gateway restart', async () => {
      // Down: every delivery is answered 503.
      service.ingest = () => ({ status: 503, json: { detail: 'maintenance' } });
      const first = await gateway();
      await Promise.all([1, 2, 3].map((n) => first.gateway.persistence!.onSessionEnded(finishedSession(n))));
      // The same finished session reported twice is one record.
      await first.gateway.persistence!.onSessionEnded({ ...finishedSession(1), endReason: 'reported again' });
      for (const n of [1, 2, 3]) {
        await service.waitFor((r) => r.headers['idempotency-key'] === `session:sess_${n}` && r.status === 503);
      }
      // Gone: connections are refused.
      await service.stop();
      const refusedBefore = service.requests.length;
      await closeGateway(first);

      // The next run resumes, still against a service that refuses connections...
      const capture = capturingLogger();
      const second = await gateway({}, capture);
      await eventually(
        () => capture.lines.find((l) => l['message'] === 'could not deliver a record to the persistence service; will retry' && String(l['error']).includes('ECONNREFUSED')),
        15_000,
        'a refused delivery after the restart',
      );
      expect(service.requests.length, 'nothing reached a stopped service').to.equal(refusedBefore);

      // ...until it is back, and honours the keys.
      service.ingest = () => undefined;
      await service.start();
      await eventually(() => (service.stored.size === 3 ? true : undefined), 15_000, 'three stored records');
      // Stored by the service is not yet settled by the sender: its answer may still be on the way.
      const settled = () => capture.lines.filter((l) => l['message'] === 'delivered a record to the persistence service').length;
      await eventually(() => (settled() === 3 ? true : undefined), 15_000, 'three deliveries marked sent');

      const accepted = service.requests.filter((r) => isIngest(r) && r.status === 201);
      expect(accepted.map((r) => r.headers['idempotency-key']).sort()).to.deep.equal(['session:sess_1', 'session:sess_2', 'session:sess_3']);
      expect(service.requests.filter((r) => r.status === 409), 'nothing delivered twice').to.deep.equal([]);
      for (const n of [1, 2, 3]) {
        const record = service.stored.get(`session:sess_${n}`)!;
        expect(record.path).to.equal('/api/ingest/sessions');
        expect(JSON.parse(record.body)).to.deep.equal(expectedRecord(n));
        expect(() => SessionRecord.parse(JSON.parse(record.body)), 'the contract\'s schema').not.to.throw();
      }
      for (const r of service.requests) {
        expect(r.headers.authorization).to.equal(`Bearer ${TOKEN}`);
        expect(r.headers['content-type']).to.equal('application/json');
      }
      // Every attempt of a record carried the same bytes.
      for (const n of [1, 2, 3]) {
        const bodies = new Set(service.requests.filter((r) => r.headers['idempotency-key'] === `session:sess_${n}`).map((r) => r.body));
        expect(bodies.size).to.equal(1);
      }
      expect(capture.text()).not.to.contain(TOKEN);

      await closeGateway(second);
      const outbox = openSqliteOutbox(path.join(root, 'data'));
      try {
        for (const n of [1, 2, 3]) expect(await outbox.find('session', `sess_${n}`)).to.deep.include({ state: 'sent' });
      } finally {
        await outbox.close();
      }
    });

    it('leaves a delivery in flight at close to the next run, which sends it at once', async () => {
      service.ingest = () => 'hang';
      const first = await gateway();
      await first.gateway.persistence!.onSessionEnded(finishedSession(3));
      await service.waitFor((r) => isIngest(r) && r.status === undefined);
      // Closing aborts the hanging request (INGEST_TIMEOUT_MS is 10 s) and makes the record due now,
      // not when its claim's lease (40 s) runs out.
      await closeGateway(first);
      service.ingest = () => undefined;
      await gateway();
      await eventually(() => service.stored.get('session:sess_3'), 15_000, 'the record, delivered by the next run');
      expect(service.requests.filter(isIngest)).to.have.length(2);
    });

    it('on PostgreSQL, lets two instances sharing the outbox deliver each record once', async () => {
      const database = { DATABASE_URL: await freshDatabase() };
      service.ingest = () => ({ status: 503 });
      const [a, b] = [await gateway(database), await gateway(database)];
      const sessions = Array.from({ length: 8 }, (_, i) => finishedSession(i + 1));
      await Promise.all(sessions.map((session, i) => (i % 2 === 0 ? a : b).gateway.persistence!.onSessionEnded(session)));
      await service.waitFor((r) => r.headers['idempotency-key'] === 'session:sess_8' && r.status === 503);
      service.ingest = () => undefined;
      await eventually(() => (service.stored.size === 8 ? true : undefined), 15_000, 'eight stored records');
      expect(service.requests.filter((r) => r.status === 409), 'nothing delivered twice').to.deep.equal([]);
      const rows = await query<{ state: string; n: string }>(database.DATABASE_URL, 'SELECT state, COUNT(*) AS n FROM persistence_outbox GROUP BY state');
      expect(rows).to.deep.equal([{ state: 'sent', n: '8' }]);
    });

    it('counts 409 (the service has the key already) as delivered, and retries 429', async () => {
      // sess_4 reached the service before (say, its answer was lost); sess_5 is throttled once.
      service.stored.set('session:sess_4', { path: '/api/ingest/sessions', body: 'an earlier delivery' });
      let throttled = false;
      service.ingest = (r) => {
        if (r.headers['idempotency-key'] !== 'session:sess_5' || throttled) return undefined;
        throttled = true;
        return { status: 429, json: { detail: 'slow down' } };
      };
      const t = await gateway();
      await t.gateway.persistence!.onSessionEnded(finishedSession(4));
      await t.gateway.persistence!.onSessionEnded(finishedSession(5));
      // Settled by the sender, not only stored by the service: its answer may still be on the way.
      const delivered = (key: string) => t.telemetry.recent({ component: 'persistence', action: 'delivered' }).some((e) => e['id'] === key);
      await eventually(() => (delivered('session:sess_5') && delivered('session:sess_4') ? true : undefined), 15_000, 'the throttled record delivered');
      const answers = (key: string) => service.requests.filter((r) => r.headers['idempotency-key'] === key).map((r) => r.status);
      expect(answers('session:sess_4')).to.deep.equal([409]);
      expect(answers('session:sess_5')).to.deep.equal([429, 201]);
      // Each attempt is a telemetry event with its duration, so /api/telemetry/summary shows the service's latency.
      const events = t.telemetry.recent({ component: 'persistence' }).reverse();
      expect(events.map((e) => [e.action, e['id'], e['attempt'], e['status']]).filter((e) => e[1] === 'session:sess_5')).to.deep.equal([
        ['retry', 'session:sess_5', 1, 429],
        ['delivered', 'session:sess_5', 2, 201],
      ]);
      expect(events.find((e) => e['id'] === 'session:sess_4')).to.deep.include({ action: 'delivered', kind: 'session', status: 409 });
      for (const event of events) expect(event.duration_ms).to.be.a('number').and.at.least(0);
      await closeGateway(t);
      const outbox = openSqliteOutbox(path.join(root, 'data'));
      try {
        expect(await outbox.find('session', 'sess_4')).to.deep.include({ state: 'sent', attempts: 1 });
        expect(await outbox.find('session', 'sess_5')).to.deep.include({ state: 'sent', attempts: 2 });
      } finally {
        await outbox.close();
      }
    });

    it('retries a record the service refused for its token (401), so fixing INGEST_TOKEN sends it', async () => {
      let refused = 0;
      service.ingest = () => (++refused === 1 ? { status: 401, json: { detail: 'bad token' } } : undefined);
      const t = await gateway();
      await t.gateway.persistence!.onSessionEnded(finishedSession(6));
      await eventually(() => service.stored.get('session:sess_6'), 15_000, 'the record after the 401');
      expect(service.requests.filter(isIngest).map((r) => r.status)).to.deep.equal([401, 201]);
    });

    it('retries a delivery the service did not answer within INGEST_TIMEOUT_MS', async () => {
      let calls = 0;
      service.ingest = () => (++calls === 1 ? 'hang' : undefined);
      const t = await gateway({ INGEST_TIMEOUT_MS: '200' });
      await t.gateway.persistence!.onSessionEnded(finishedSession(2));
      await eventually(() => service.stored.get('session:sess_2'), 15_000, 'the record');
      expect(service.requests.filter(isIngest)).to.have.length(2);
    });

    it('keeps a record the service refuses for good as failed, logs it without the token, and goes on with the others', async () => {
      const capture = capturingLogger();
      service.ingest = (r) => (r.headers['idempotency-key'] === 'session:sess_1' ? { status: 422, json: { detail: 'unknown room' } } : undefined);
      const t = await gateway({}, capture);
      await t.gateway.persistence!.onSessionEnded(finishedSession(1));
      await service.waitFor((r) => r.status === 422);
      await t.gateway.persistence!.onSessionEnded(finishedSession(2));
      await eventually(() => service.stored.get('session:sess_2'), 15_000, 'the next record');

      expect(service.requests.filter((r) => r.headers['idempotency-key'] === 'session:sess_1'), 'never retried').to.have.length(1);
      const line = capture.lines.find((l) => l['message'] === 'the persistence service refused a record; it is kept as failed and not retried');
      expect(line).to.deep.include({ level: 'error', kind: 'session', id: 'session:sess_1', attempt: 1, status: 422 });
      expect(String(line?.['error'])).to.contain('unknown room');
      expect(capture.text()).not.to.contain(TOKEN);

      await closeGateway(t);
      const outbox = openSqliteOutbox(path.join(root, 'data'));
      try {
        expect(await outbox.find('session', 'sess_1')).to.deep.include({ state: 'failed', lastStatus: 422, attempts: 1 });
      } finally {
        await outbox.close();
      }
    });
  });
});
