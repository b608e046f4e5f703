import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import type { CallAnalysis, Task } from '../../src/tasks/model.js';
import { MIGRATIONS, MigrationError, runMigrations } from '../../src/tasks/sqlite-migrations.js';
import type { Migration } from '../../src/tasks/sqlite-migrations.js';
import { openSqliteTaskStore, TASKS_DB_FILE } from '../../src/tasks/sqlite-store.js';
import { InvalidCursorError, InvalidTransitionError, TaskNotFoundError } from '../../src/tasks/store.js';
import type { TaskStore } from '../../src/tasks/store.js';

const TO = '+14155550123';
const FROM = '+14155550100';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('SQLite task store', () => {
  let dir: string;
  let store: TaskStore;

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'task-store-'));
    store = openSqliteTaskStore(dir);
  });

  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('create and get', () => {
    it('stores a task in status created with one history entry', async () => {
      const metadata = { customer: { id: 7, name: 'Ada' }, tags: ['a'] };
      const task = await store.create({ to: TO, from: FROM, prompt: 'Book a table', greeting: 'Hello!', metadata });
      expect(task.id).to.match(/^task_[0-9a-f]{32}$/);
      expect(task).to.deep.include({ to: TO, from: FROM, prompt: 'Book a table', greeting: 'Hello!', status: 'created' });
      expect(task.metadata).to.deep.equal(metadata);
      expect(task.createdAt).to.match(ISO);
      expect(task.history).to.deep.equal([{ status: 'created', at: task.createdAt }]);
      expect(task.transcript).to.deep.equal([]);
      expect(await store.get(task.id)).to.deep.equal(task);
    });

    it('leaves absent fields off the task', async () => {
      const task = await store.create({ to: TO, from: FROM });
      for (const key of ['prompt', 'greeting', 'metadata', 'callSid', 'dialedAt', 'analysis', 'recordingPath']) {
        expect(task, key).not.to.have.property(key);
      }
    });

    it('returns undefined for an unknown id', async () => {
      expect(await store.get('task_nope')).to.equal(undefined);
    });
  });

  describe('transition', () => {
    it('records each change with its time and source, and stamps dialed, answered and ended', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued', { callSid: 'CA123' }, 'dialer');
      await store.transition(id, 'ringing', {}, 'twilio-status');
      const answered = await store.transition(id, 'in-progress', { answeredBy: 'human' }, 'twilio-status');
      expect(answered.dialedAt).to.match(ISO);
      expect(answered.answeredAt).to.match(ISO);
      expect(answered).not.to.have.property('endedAt');

      const done = await store.transition(id, 'completed', { durationS: 42, endReason: 'caller-hangup' }, 'twilio-status');
      expect(done).to.deep.include({
        status: 'completed',
        callSid: 'CA123',
        answeredBy: 'human',
        durationS: 42,
        endReason: 'caller-hangup',
      });
      expect(done.endedAt).to.match(ISO);
      expect(done.history.map((h) => [h.status, h.source])).to.deep.equal([
        ['created', undefined],
        ['queued', 'dialer'],
        ['ringing', 'twilio-status'],
        ['in-progress', 'twilio-status'],
        ['completed', 'twilio-status'],
      ]);
      for (const change of done.history) expect(change.at).to.match(ISO);
    });

    it('refuses an invalid move and leaves the task unchanged', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued');
      const before = await store.get(id);
      expect(await rejection(store.transition(id, 'completed', { durationS: 3 }))).to.be.an.instanceOf(InvalidTransitionError).with.property('message').that.matches(/queued to completed/);
      expect(await store.get(id)).to.deep.equal(before);
      await store.transition(id, 'canceled');
      expect(await rejection(store.transition(id, 'queued'))).to.be.an.instanceOf(InvalidTransitionError);
    });

    it('throws TaskNotFoundError for an unknown id', async () => {
      expect(await rejection(store.transition('task_nope', 'queued'))).to.be.an.instanceOf(TaskNotFoundError);
    });

    it('does not stamp dialedAt on a task canceled before dialing', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      const canceled = await store.transition(id, 'canceled', { endReason: 'operator' }, 'api');
      expect(canceled).not.to.have.property('dialedAt');
      expect(canceled.endedAt).to.match(ISO);
    });
  });

  describe('update, transcript, analysis, findByCallSid', () => {
    it('updates only the fields given', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.update(id, { callSid: 'CA1' });
      const updated = await store.update(id, { recordingPath: 'recordings/task.wav' });
      expect(updated).to.deep.include({ callSid: 'CA1', recordingPath: 'recordings/task.wav', status: 'created' });
      expect(await rejection(store.update('task_nope', { callSid: 'CA2' }))).to.be.an.instanceOf(TaskNotFoundError);
    });

    it('appends transcript lines in order and keeps the interrupted flag', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.appendTranscript(id, { role: 'assistant', text: 'Hello, this is', atMs: 120, interrupted: true });
      await store.appendTranscript(id, { role: 'user', text: 'Who is this?', atMs: 1500.5 });
      await store.appendTranscript(id, { role: 'system', text: 'transfer requested', atMs: 2000 });
      expect((await store.get(id))?.transcript).to.deep.equal([
        { role: 'assistant', text: 'Hello, this is', atMs: 120, interrupted: true },
        { role: 'user', text: 'Who is this?', atMs: 1500.5 },
        { role: 'system', text: 'transfer requested', atMs: 2000 },
      ]);
      expect(await rejection(store.appendTranscript('task_nope', { role: 'user', text: 'x', atMs: 0 }))).to.be.an.instanceOf(TaskNotFoundError);
    });

    it('stores each analysis state', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      expect((await store.setAnalysis(id, { state: 'pending' })).analysis).to.deep.equal({ state: 'pending' });
      const analysis: CallAnalysis = {
        summary: 'Booked.',
        outcome: { goal_reached: true, explanation: 'Table for two at 7.' },
        sentiment: 'positive',
        action_items: ['Send confirmation SMS'],
        key_facts: { party_size: '2' },
      };
      expect((await store.setAnalysis(id, { state: 'ready', analysis })).analysis).to.deep.equal({ state: 'ready', analysis });
      const failed = { state: 'failed' as const, error: 'groq timed out' };
      expect((await store.setAnalysis(id, failed)).analysis).to.deep.equal(failed);
      expect(await rejection(store.setAnalysis('task_nope', { state: 'pending' }))).to.be.an.instanceOf(TaskNotFoundError);
    });

    it('finds a task by its call sid', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued', { callSid: 'CAabc' });
      expect((await store.findByCallSid('CAabc'))?.id).to.equal(id);
      expect(await store.findByCallSid('CAother')).to.equal(undefined);
    });
  });

  describe('list', () => {
    it('pages newest first with an opaque cursor, stable under equal creation times', async () => {
      await store.close();
      // Pin the clock: five tasks share one timestamp, two have later ones.
      let now = new Date('2025-01-01T00:00:00.000Z');
      store = openSqliteTaskStore(dir, { now: () => now });
      const same: string[] = [];
      for (let i = 0; i < 5; i++) same.push((await store.create({ to: TO, from: FROM })).id);
      now = new Date('2025-01-01T00:00:01.000Z');
      const later = (await store.create({ to: TO, from: FROM })).id;
      now = new Date('2025-01-01T00:00:02.000Z');
      const latest = (await store.create({ to: TO, from: FROM })).id;

      const expected = [latest, later, ...[...same].sort().reverse()];
      const seen = await collectPages(store, 2);
      expect(seen.map((page) => page.length)).to.deep.equal([2, 2, 2, 1]);
      expect(seen.flat()).to.deep.equal(expected);
    });

    it('filters by status, paging within the filter', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await store.create({ to: TO, from: FROM })).id);
      for (const id of ids.slice(0, 3)) await store.transition(id, 'queued');
      const queued = (await collectPages(store, 2, 'queued')).flat();
      expect(queued).to.have.members(ids.slice(0, 3));
      expect((await collectPages(store, 10, 'created')).flat()).to.have.members(ids.slice(3));
      expect(await store.list({ limit: 10, status: 'completed' })).to.deep.equal({ tasks: [] });
    });

    it('returns tasks with their history but not their transcript', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued');
      await store.appendTranscript(id, { role: 'user', text: 'hi', atMs: 1 });
      const [task] = (await store.list({ limit: 1 })).tasks;
      const { transcript, ...summary } = (await store.get(id))!;
      expect(transcript).to.have.length(1);
      expect(task).to.deep.equal(summary);
      expect(task).not.to.have.property('transcript');
    });

    it('refuses a forged cursor and an out-of-range limit', async () => {
      expect(await rejection(store.list({ limit: 10, cursor: 'not-a-cursor' }))).to.be.an.instanceOf(InvalidCursorError);
      const forged = Buffer.from(JSON.stringify({ a: 1 })).toString('base64url');
      expect(await rejection(store.list({ limit: 10, cursor: forged }))).to.be.an.instanceOf(InvalidCursorError);
      expect(await rejection(store.list({ limit: 0 }))).to.be.an.instanceOf(RangeError);
      expect(await rejection(store.list({ limit: 201 }))).to.be.an.instanceOf(RangeError);
    });
  });

  describe('claimAnalysis', () => {
    const at = (iso: string) => new Date(iso);
    const T0 = '2025-01-01T00:00:00.000Z';
    const fresh = { staleBefore: at('2024-12-31T23:00:00.000Z'), retryFailed: false };

    /** A second store object on the same file: what another worker or gateway would hold. */
    let other: TaskStore;
    let now: Date;

    beforeEach(async () => {
      await store.close();
      now = at(T0);
      store = openSqliteTaskStore(dir, { now: () => now });
      other = openSqliteTaskStore(dir, { now: () => now });
    });

    afterEach(async () => {
      await other.close();
    });

    it('lets exactly one of two stores racing on the same file claim each analysis', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await store.create({ to: TO, from: FROM })).id);
      for (const id of ids) {
        const [mine, theirs] = await Promise.all([store.claimAnalysis(id, fresh), other.claimAnalysis(id, fresh)]);
        expect([mine, theirs].filter((claim) => claim !== undefined), id).to.have.length(1);
        expect((mine ?? theirs)!.analysis).to.deep.equal({ state: 'pending' });
      }
      // A third try, from either, finds it held.
      expect(await store.claimAnalysis(ids[0]!, fresh)).to.equal(undefined);
    });

    it('takes over a pending analysis claimed before staleBefore, and only then', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      expect(await store.claimAnalysis(id, fresh)).not.to.equal(undefined);
      now = at('2025-01-01T00:10:00.000Z');
      // Claimed at T0: a window that starts at T0 still counts it as live...
      expect(await other.claimAnalysis(id, { staleBefore: at(T0), retryFailed: false })).to.equal(undefined);
      // ...one that starts after T0 finds it left behind by a dead process.
      const taken = await other.claimAnalysis(id, { staleBefore: at('2025-01-01T00:00:00.001Z'), retryFailed: false });
      expect(taken?.analysis).to.deep.equal({ state: 'pending' });
      // The takeover renewed the claim: it is fresh again.
      expect(await store.claimAnalysis(id, { staleBefore: at('2025-01-01T00:09:59.999Z'), retryFailed: true })).to.equal(undefined);
    });

    it('starts a failed analysis over only when asked to retry, and never a ready one', async () => {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.setAnalysis(id, { state: 'failed', error: 'groq timed out' });
      expect(await other.claimAnalysis(id, fresh)).to.equal(undefined);
      expect((await other.get(id))?.analysis).to.deep.equal({ state: 'failed', error: 'groq timed out' });
      expect((await other.claimAnalysis(id, { ...fresh, retryFailed: true }))?.analysis).to.deep.equal({ state: 'pending' });

      const ready = (await store.create({ to: TO, from: FROM })).id;
      const analysis: CallAnalysis = { summary: 'x', outcome: { goal_reached: null, explanation: 'y' }, sentiment: 'neutral', action_items: [], key_facts: {} };
      await store.setAnalysis(ready, { state: 'ready', analysis });
      expect(await store.claimAnalysis(ready, { staleBefore: at('2030-01-01T00:00:00.000Z'), retryFailed: true })).to.equal(undefined);
    });

    it('rejects with TaskNotFoundError for an unknown task', async () => {
      expect(await rejection(store.claimAnalysis('task_nope', fresh))).to.be.an.instanceOf(TaskNotFoundError);
    });
  });

  describe('persistence and migrations', () => {
    it('keeps everything across a reopen of the same directory without re-applying migrations', async () => {
      const { id } = await store.create({ to: TO, from: FROM, metadata: { k: 'v' } });
      await store.transition(id, 'queued', { callSid: 'CA9' }, 'dialer');
      await store.appendTranscript(id, { role: 'user', text: 'still here', atMs: 10 });
      const before = (await store.get(id)) as Task;
      const appliedBefore = migrationRows(dir);
      await store.close();

      store = openSqliteTaskStore(dir);
      expect(await store.get(id)).to.deep.equal(before);
      expect((await store.findByCallSid('CA9'))?.id).to.equal(id);
      expect(migrationRows(dir)).to.deep.equal(appliedBefore);
      expect(appliedBefore.map((row) => row.version)).to.deep.equal(MIGRATIONS.map((m) => m.version));
    });

    it('uses the WAL journal (foreign keys: see appendTranscript to an unknown task)', async () => {
      const db = new Database(path.join(dir, TASKS_DB_FILE), { readonly: true });
      try {
        expect(db.pragma('journal_mode', { simple: true })).to.equal('wal');
      } finally {
        db.close();
      }
    });

    it('applies only the migrations a database lacks, once each', async () => {
      const db = new Database(':memory:');
      try {
        const first: Migration[] = [{ version: 1, name: 'one', sql: 'CREATE TABLE a (x INTEGER)' }];
        expect(runMigrations(db, first)).to.deep.equal([1]);
        expect(runMigrations(db, first)).to.deep.equal([]);
        const second = [...first, { version: 2, name: 'two', sql: 'ALTER TABLE a ADD COLUMN y TEXT' }];
        expect(runMigrations(db, second)).to.deep.equal([2]);
        expect(runMigrations(db, second)).to.deep.equal([]);
        expect(() => runMigrations(db, first)).to.throw(MigrationError, /newer than this build/);
      } finally {
        db.close();
      }
    });

    it('rolls back a failing migration entirely', async () => {
      const db = new Database(':memory:');
      try {
        const broken: Migration[] = [
          { version: 1, name: 'ok', sql: 'CREATE TABLE a (x INTEGER)' },
          { version: 2, name: 'broken', sql: 'CREATE TABLE b (; nonsense' },
        ];
        expect(() => runMigrations(db, broken)).to.throw();
        const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'a'").all();
        expect(tables).to.deep.equal([]);
      } finally {
        db.close();
      }
    });
  });
});

async function collectPages(store: TaskStore, limit: number, status?: Task['status']): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list({ limit, ...(cursor ? { cursor } : {}), ...(status ? { status } : {}) });
    pages.push(page.tasks.map((t) => t.id));
    cursor = page.nextCursor;
  } while (cursor && pages.length < 50);
  return pages;
}

/** What the promise rejected with; fails the test when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value) => expect.fail(`expected a rejection, got ${JSON.stringify(value)}`),
    (err: unknown) => err,
  );
}

function migrationRows(dir: string): { version: number; name: string; applied_at: string }[] {
  const db = new Database(path.join(dir, TASKS_DB_FILE), { readonly: true });
  try {
    return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all() as {
      version: number;
      name: string;
      applied_at: string;
    }[];
  } finally {
    db.close();
  }
}
