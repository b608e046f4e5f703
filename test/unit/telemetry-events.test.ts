import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Telemetry } from '../../src/telemetry/events.js';
import type { TelemetryEvent } from '../../src/telemetry/events.js';
import { nearestRank } from '../../src/telemetry/stats.js';

async function readJsonl(file: string): Promise<TelemetryEvent[]> {
  const text = await readFile(file, 'utf8');
  expect(text.endsWith('\n'), 'file ends with a newline').to.equal(true);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as TelemetryEvent);
}

describe('telemetry events', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'telemetry-events-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  describe('sampling', () => {
    it('keeps the 1st, 4th, 7th and 10th of ten noisy events when N = 3, and every other event', () => {
      const t = new Telemetry({ noisyEveryN: 3 });
      for (let i = 1; i <= 10; i += 1) {
        t.record('twilio', 'media_event', { seq: i });
        t.record('twilio', 'start', { seq: i });
      }
      const noisy = t.recent({ action: 'media_event' });
      expect(noisy.map((e) => e['seq'])).to.deep.equal([10, 7, 4, 1]);
      expect(noisy.every((e) => e['sampled_every'] === 3)).to.equal(true);

      const plain = t.recent({ action: 'start' });
      expect(plain).to.have.length(10);
      expect(plain.some((e) => 'sampled_every' in e)).to.equal(false);
    });

    it('counts occurrences separately per component and action', () => {
      const t = new Telemetry({ noisyEveryN: 2 });
      for (let i = 0; i < 4; i += 1) {
        t.record('a', 'media_event');
        t.record('b', 'media_event');
        t.record('a', 'save_audio_chunk');
      }
      const counts = t.summary().map((r) => [r.component, r.action, r.count]);
      expect(counts).to.deep.equal([
        ['a', 'media_event', 2],
        ['a', 'save_audio_chunk', 2],
        ['b', 'media_event', 2],
      ]);
    });

    it('uses a custom noisy action list', () => {
      const t = new Telemetry({ noisyEveryN: 5, noisyActions: ['tick'] });
      for (let i = 0; i < 6; i += 1) {
        t.record('clock', 'tick');
        t.record('twilio', 'media_event');
      }
      expect(t.recent({ action: 'tick' })).to.have.length(2);
      expect(t.recent({ action: 'media_event' })).to.have.length(6);
    });
  });

  describe('event shape', () => {
    it('renames known fields to snake_case and passes extras through', () => {
      const t = new Telemetry({ noisyEveryN: 1 });
      t.record('agent', 'first_audio', {
        durationMs: 412.5,
        callSid: 'CA1',
        streamSid: 'MZ1',
        taskId: 'task-1',
        agent: 'echo',
        nested: { a: 1 },
      });
      const [event] = t.recent({});
      expect(event).to.deep.include({
        component: 'agent',
        action: 'first_audio',
        duration_ms: 412.5,
        call_sid: 'CA1',
        stream_sid: 'MZ1',
        task_id: 'task-1',
        agent: 'echo',
        nested: { a: 1 },
      });
      expect(event).to.not.have.any.keys('durationMs', 'callSid', 'streamSid', 'taskId');
      expect(new Date(event!.ts).toISOString()).to.equal(event!.ts);
    });

    it('does not let extras overwrite identifying fields, and redacts secret-looking extras', () => {
      const t = new Telemetry({ noisyEveryN: 1 });
      t.record('llm', 'request', { component: 'spoofed', ts: 'x', apiKey: 'sk-live-123', model: 'm' });
      const [event] = t.recent({});
      expect(event!.component).to.equal('llm');
      expect(event!.ts).to.not.equal('x');
      expect(event!['apiKey']).to.equal('[redacted]');
      expect(event!['model']).to.equal('m');
    });

    it('leaves out a non-finite duration instead of poisoning the stats', () => {
      const t = new Telemetry({ noisyEveryN: 1 });
      t.record('agent', 'reply', { durationMs: Number.NaN });
      t.record('agent', 'reply', { durationMs: 10 });
      expect(t.recent({})[1]).to.not.have.property('duration_ms');
      expect(t.summary()[0]).to.include({ count: 2, avg_ms: 10, min_ms: 10, max_ms: 10 });
    });

    it('never throws from record(), even for unserializable extras', async () => {
      const file = path.join(dir, 'events.jsonl');
      const t = new Telemetry({ noisyEveryN: 1, file });
      const cyclic: Record<string, unknown> = { name: 'loop' };
      cyclic['self'] = cyclic;
      expect(() => t.record('x', 'cyclic', { cyclic, big: 10n })).to.not.throw();
      await t.close();
      const [line] = await readJsonl(file);
      expect(line).to.deep.include({ action: 'cyclic', big: '10', cyclic: { name: 'loop', self: '[circular]' } });
    });
  });

  describe('summary', () => {
    it('computes count, average, extremes and nearest-rank percentiles', () => {
      const t = new Telemetry({ noisyEveryN: 1 });
      // Recorded in a scrambled order: the stats must not depend on arrival order.
      for (let i = 0; i < 100; i += 1) t.record('agent', 'latency', { durationMs: ((i * 37) % 100) + 1 });
      t.record('agent', 'latency'); // counted, but has no duration
      expect(t.summary()).to.deep.equal([
        {
          component: 'agent',
          action: 'latency',
          count: 101,
          avg_ms: 50.5,
          min_ms: 1,
          max_ms: 100,
          p50_ms: 50,
          p90_ms: 90,
          p95_ms: 95,
          p99_ms: 99,
        },
      ]);
    });

    it('reports null duration stats for actions without durations and sorts rows', () => {
      const t = new Telemetry({ noisyEveryN: 1 });
      t.record('twilio', 'stop');
      t.record('agent', 'start');
      t.record('twilio', 'connected');
      const rows = t.summary();
      expect(rows.map((r) => `${r.component}/${r.action}`)).to.deep.equal(['agent/start', 'twilio/connected', 'twilio/stop']);
      expect(rows[0]).to.deep.equal({
        component: 'agent',
        action: 'start',
        count: 1,
        avg_ms: null,
        min_ms: null,
        max_ms: null,
        p50_ms: null,
        p90_ms: null,
        p95_ms: null,
        p99_ms: null,
      });
    });

    it('takes percentiles over the latest reservoir but count, avg, min and max over everything', () => {
      const t = new Telemetry({ noisyEveryN: 1, reservoirSize: 10 });
      for (let ms = 1; ms <= 100; ms += 1) t.record('agent', 'latency', { durationMs: ms });
      const [row] = t.summary();
      expect(row).to.include({ count: 100, avg_ms: 50.5, min_ms: 1, max_ms: 100 });
      // The reservoir holds 91..100.
      expect(row).to.include({ p50_ms: 95, p90_ms: 99, p99_ms: 100 });
    });

    it('nearest-rank picks the value at rank ceil(p/100 * n)', () => {
      expect(nearestRank([5], 50)).to.equal(5);
      expect(nearestRank([1, 2, 3, 4], 50)).to.equal(2);
      expect(nearestRank([1, 2, 3, 4], 51)).to.equal(3);
      expect(nearestRank([1, 2, 3, 4], 100)).to.equal(4);
    });
  });

  describe('recent', () => {
    function seeded(recentLimit?: number): Telemetry {
      const t = new Telemetry({ noisyEveryN: 1, ...(recentLimit === undefined ? {} : { recentLimit }) });
      for (let i = 1; i <= 300; i += 1) t.record(i % 2 === 0 ? 'agent' : 'twilio', i % 3 === 0 ? 'tick' : 'tock', { i });
      return t;
    }

    it('returns the newest first, 100 by default', () => {
      const events = seeded().recent({});
      expect(events).to.have.length(100);
      expect(events[0]!['i']).to.equal(300);
      expect(events[99]!['i']).to.equal(201);
    });

    it('filters by component and action', () => {
      const events = seeded().recent({ component: 'agent', action: 'tick', limit: 1000 });
      // Even and divisible by 3: the multiples of 6, newest first.
      const expected = Array.from({ length: 50 }, (_, k) => 300 - 6 * k);
      expect(events.map((e) => e['i'])).to.deep.equal(expected);
      expect(events.every((e) => e.component === 'agent' && e.action === 'tick')).to.equal(true);
    });

    it('honours and clamps the limit', () => {
      const t = seeded();
      expect(t.recent({ limit: 3 }).map((e) => e['i'])).to.deep.equal([300, 299, 298]);
      expect(t.recent({ limit: 0 })).to.have.length(1);
      expect(t.recent({ limit: 5000 })).to.have.length(300);
    });

    it('keeps only the last recentLimit events in memory', () => {
      const events = seeded(50).recent({ limit: 1000 });
      expect(events).to.have.length(50);
      expect(events[49]!['i']).to.equal(251);
    });
  });

  describe('JSONL file', () => {
    it('writes one parseable line per kept event once flushed, creating the directory', async () => {
      const file = path.join(dir, 'nested', 'data', 'telemetry_events.jsonl');
      const t = new Telemetry({ noisyEveryN: 2, file });
      t.record('twilio', 'start', { callSid: 'CA1', streamSid: 'MZ1' });
      for (let i = 0; i < 5; i += 1) t.record('twilio', 'media_event', { streamSid: 'MZ1' });
      t.record('agent', 'first_audio', { durationMs: 250, taskId: 'T1' });
      await t.flush();

      const lines = await readJsonl(file);
      expect(lines.map((l) => l.action)).to.deep.equal(['start', 'media_event', 'media_event', 'media_event', 'first_audio']);
      expect(lines[0]).to.deep.include({ component: 'twilio', call_sid: 'CA1', stream_sid: 'MZ1' });
      expect(lines[1]).to.deep.include({ sampled_every: 2 });
      expect(lines[4]).to.deep.include({ duration_ms: 250, task_id: 'T1' });
      await t.close();
    });

    it('gathers lines recorded across event-loop turns into one batch, written without a flush', async () => {
      const file = path.join(dir, 'events.jsonl');
      const t = new Telemetry({ noisyEveryN: 1, file });
      try {
        for (let i = 0; i < 10; i += 1) {
          t.record('load', 'turn', { i });
          await new Promise((resolve) => setImmediate(resolve));
        }
        const read = () => readFile(file, 'utf8').catch(() => ''); // the file may not be open yet
        // Lines recorded over ten event-loop turns are still waiting for their batch...
        expect(await read()).to.equal('');
        let text = '';
        for (const deadline = Date.now() + 2000; text === '' && Date.now() < deadline; ) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          text = await read();
        }
        // ...and reach the disk in one write.
        expect(text.split('\n').filter(Boolean)).to.have.length(10);
      } finally {
        await t.close();
      }
    });

    it('rotates the file by size, keeps maxFiles files, and recent() still answers with the newest events', async () => {
      const file = path.join(dir, 'telemetry_events.jsonl');
      const t = new Telemetry({ noisyEveryN: 1, file, maxFileBytes: 3000, maxFiles: 3 });
      for (let i = 0; i < 300; i += 1) t.record('load', 'turn', { i, pad: 'p'.repeat(40) });
      await t.flush();
      // A restart appends to the live file and counts what it already holds.
      await t.close();
      const again = new Telemetry({ noisyEveryN: 1, file, maxFileBytes: 3000, maxFiles: 3 });
      for (let i = 300; i < 320; i += 1) again.record('load', 'turn', { i, pad: 'p'.repeat(40) });
      await again.flush();

      const names = ['telemetry_events2.jsonl', 'telemetry_events1.jsonl', 'telemetry_events.jsonl'];
      expect((await readdir(dir)).sort()).to.deep.equal([...names].sort());
      const kept: number[] = [];
      for (const name of names) {
        expect((await stat(path.join(dir, name))).size, name).to.be.at.most(3000);
        kept.push(...(await readJsonl(path.join(dir, name))).map((e) => e['i'] as number));
      }
      // Oldest to newest: one unbroken run of events that ends with the last one recorded.
      expect(kept.at(-1)).to.equal(319);
      expect(kept).to.deep.equal(kept.map((_, k) => kept[0]! + k));
      expect(kept.length).to.be.below(320);
      expect(again.recent({ limit: 3 }).map((e) => e['i'])).to.deep.equal([319, 318, 317]);
      await again.close();
    });

    it('appends across flushes and across instances', async () => {
      const file = path.join(dir, 'events.jsonl');
      const first = new Telemetry({ noisyEveryN: 1, file });
      first.record('a', 'one');
      await first.flush();
      first.record('a', 'two');
      await first.close();
      const second = new Telemetry({ noisyEveryN: 1, file });
      second.record('a', 'three');
      await second.close();
      expect((await readJsonl(file)).map((l) => l.action)).to.deep.equal(['one', 'two', 'three']);
    });

    it('flush() waits for lines recorded before it even while more keep arriving', async () => {
      const file = path.join(dir, 'events.jsonl');
      const t = new Telemetry({ noisyEveryN: 1, file });
      const ticker = setInterval(() => t.record('load', 'tick'), 1);
      try {
        for (let i = 0; i < 20; i += 1) t.record('load', 'burst', { i });
        await t.flush();
        const bursts = (await readJsonl(file)).filter((l) => l.action === 'burst');
        expect(bursts).to.have.length(20);
      } finally {
        clearInterval(ticker);
        await t.close();
      }
    });

    it('drops and counts lines beyond the pending cap while the disk is busy', async () => {
      const file = path.join(dir, 'events.jsonl');
      const t = new Telemetry({ noisyEveryN: 1, file, maxPendingLines: 5, recentLimit: 100 });
      // Synchronously: the file is not even open yet, so everything waits in the queue.
      for (let i = 1; i <= 8; i += 1) t.record('a', 'burst', { i });
      expect(t.dropped).to.equal(3);
      await t.flush();
      expect((await readJsonl(file)).map((l) => l['i'])).to.deep.equal([1, 2, 3, 4, 5]);
      // Memory views still see everything.
      expect(t.recent({})).to.have.length(8);
      expect(t.summary()[0]!.count).to.equal(8);
      // Once written, the queue has room again.
      t.record('a', 'burst', { i: 9 });
      await t.close();
      expect((await readJsonl(file)).map((l) => l['i'])).to.deep.equal([1, 2, 3, 4, 5, 9]);
      expect(t.dropped).to.equal(3);
    });

    it('reports a write error once through onError and keeps working in memory', async () => {
      const blocker = path.join(dir, 'not-a-dir');
      await writeFile(blocker, 'x');
      const errors: Error[] = [];
      const t = new Telemetry({ noisyEveryN: 1, file: path.join(blocker, 'events.jsonl'), onError: (e) => errors.push(e) });
      t.record('a', 'one');
      await t.flush();
      expect(() => t.record('a', 'two')).to.not.throw();
      await t.flush();
      await t.close();
      expect(errors).to.have.length(1);
      expect(t.error).to.equal(errors[0]);
      expect(t.dropped).to.equal(2);
      expect(t.recent({}).map((e) => e.action)).to.deep.equal(['two', 'one']);
    });

    it('keeps record() from throwing when onError itself throws', async () => {
      const blocker = path.join(dir, 'blocker');
      await writeFile(blocker, 'x');
      const t = new Telemetry({
        noisyEveryN: 1,
        file: path.join(blocker, 'e.jsonl'),
        onError: () => {
          throw new Error('callback failed');
        },
      });
      t.record('a', 'one');
      await t.flush();
      expect(() => t.record('a', 'two')).to.not.throw();
      await t.close();
    });
  });

  it('rejects invalid options at construction', () => {
    expect(() => new Telemetry({ noisyEveryN: 0 })).to.throw(RangeError, /noisyEveryN/);
    expect(() => new Telemetry({ noisyEveryN: 1.5 })).to.throw(RangeError, /noisyEveryN/);
    expect(() => new Telemetry({ noisyEveryN: 1, recentLimit: 0 })).to.throw(RangeError, /recentLimit/);
  });
});
