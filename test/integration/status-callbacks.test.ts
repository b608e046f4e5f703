// Twilio's status callbacks of one call landing on two processes (two workers, two instances) that
// share one database, on both engines: each process has its own StatusCallbacks over its own
// store object, as createTaskDomain wires them, and the order is decided in the database.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LiveBus } from '../../src/live/bus.js';
import { LlmError } from '../../src/llm/types.js';
import { AnalysisRunner } from '../../src/tasks/analysis-runner.js';
import { openPgTaskStore } from '../../src/tasks/pg-store.js';
import { openSqliteTaskStore } from '../../src/tasks/sqlite-store.js';
import { StatusCallbacks } from '../../src/tasks/status-callbacks.js';
import type { TaskStore } from '../../src/tasks/store.js';
import { TaskTransitions } from '../../src/tasks/transitions.js';
import { Telemetry } from '../../src/telemetry/events.js';
import type { CallStatusUpdate } from '../../src/twilio/webhooks.js';
import { capturingLogger, type CapturingLogger } from '../helpers/capturing-logger.js';
import { laggingStore } from '../helpers/lagging-store.js';
import { freshDatabase } from '../helpers/postgres.js';
import { eventually } from '../helpers/task-api.js';

interface Engine {
  name: string;
  /** A new place and a way to open store objects on it, each as another process would. */
  fresh(): Promise<{ open: () => Promise<TaskStore>; dispose: () => void }>;
}

const ENGINES: Engine[] = [
  {
    name: 'SQLite',
    fresh: async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'status-callbacks-'));
      return { open: async () => openSqliteTaskStore(dir), dispose: () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    fresh: async () => {
      const url = await freshDatabase();
      return { open: () => openPgTaskStore(url), dispose: () => undefined };
    },
  },
];

const TO = '+14155550123';
const FROM = '+14155550100';
const REPEATED = 'ignored a repeated or superseded status callback';
const REFUSED = 'ignored a status change the task cannot make';

interface Process {
  callbacks: StatusCallbacks;
  log: CapturingLogger;
  store: TaskStore;
}

for (const engine of ENGINES) {
  describe(`StatusCallbacks on two processes sharing one ${engine.name} database`, () => {
    let place: Awaited<ReturnType<Engine['fresh']>>;
    let processes: Process[];
    let stores: TaskStore[];
    let callSid: string;
    let taskId: string;
    let calls = 0;

    const callback = (sequenceNumber: number, callStatus: string, extra: Partial<CallStatusUpdate> = {}): CallStatusUpdate => ({
      callSid,
      callStatus,
      sequenceNumber,
      callDuration: undefined,
      answeredBy: undefined,
      timestamp: undefined,
      taskId: undefined,
      params: { CallSid: callSid, To: TO },
      ...extra,
    });

    /** Another process: its own store object on the database, its own task domain pieces. */
    async function startProcess(holdMs = 60_000, options: { failFirstRelease?: boolean } = {}): Promise<Process> {
      const real = await place.open();
      stores.push(real);
      // A millisecond per store call, so two processes' awaits interleave as across a network.
      const store = laggingStore(real, {}, 1);
      if (options.failFirstRelease) {
        // The database out of reach for one moment: the first release attempt fails.
        const take = store.takeHeldCallback;
        let failed = false;
        store.takeHeldCallback = (...args) => (failed ? take(...args) : ((failed = true), Promise.reject(new Error('connection terminated'))));
      }
      const log = capturingLogger('info');
      const bus = new LiveBus();
      const analysis = new AnalysisRunner({
        store,
        bus,
        logger: log.logger,
        telemetry: new Telemetry({ noisyEveryN: 1 }),
        llm: () => {
          throw new LlmError('missing_key', 'no LLM in this test');
        },
        streamLive: () => false,
        staleAfterMs: 60_000,
      });
      const callbacks = new StatusCallbacks({ store, transitions: new TaskTransitions(store, bus, log.logger), analysis, logger: log.logger, holdMs });
      const made = { callbacks, log, store };
      processes.push(made);
      return made;
    }

    const history = async (): Promise<string[]> => (await stores[0]!.get(taskId))!.history.map((change) => change.status);
    const messages = (process: Process, message: string) => process.log.lines.filter((line) => line.message === message);
    const idle = () => Promise.all(processes.map((p) => p.callbacks.idle()));

    beforeEach(async () => {
      place = await engine.fresh();
      processes = [];
      stores = [];
      callSid = 'CA' + String(++calls).padStart(32, '0');
      const store = await place.open();
      stores.push(store);
      taskId = (await store.create({ to: TO, from: FROM })).id;
      await store.transition(taskId, 'queued', { callSid }, 'api');
    });

    afterEach(async () => {
      for (const p of processes) p.callbacks.close();
      await idle();
      await Promise.all(stores.map((s) => s.close()));
      place.dispose();
    });

    it('applies one call\'s callbacks in sequence order, each once, when they reach two processes out of order (2 on A, 0 on B, 1 on A, 3 on B)', async () => {
      const [a, b] = [await startProcess(), await startProcess()];
      await a.callbacks.handle(callback(2, 'in-progress', { answeredBy: 'human' }));
      await b.callbacks.handle(callback(0, 'initiated'));
      expect(await history()).to.deep.equal(['created', 'queued']);
      await a.callbacks.handle(callback(1, 'ringing'));
      await b.callbacks.handle(callback(3, 'completed', { callDuration: 42 }));
      await idle();

      expect(await history()).to.deep.equal(['created', 'queued', 'ringing', 'in-progress', 'completed']);
      expect(await stores[0]!.get(taskId)).to.include({ answeredBy: 'human', durationS: 42 });
      for (const p of [a, b]) expect(messages(p, REFUSED)).to.deep.equal([]);
    });

    it('applies them in order when both processes take them at the same time', async () => {
      const [a, b] = [await startProcess(), await startProcess()];
      await Promise.all([
        a.callbacks.handle(callback(2, 'in-progress')),
        b.callbacks.handle(callback(0, 'initiated')),
        a.callbacks.handle(callback(1, 'ringing')),
        b.callbacks.handle(callback(3, 'completed')),
        // Twilio retrying one on the other process meanwhile.
        b.callbacks.handle(callback(1, 'ringing')),
      ]);
      await idle();
      expect(await history()).to.deep.equal(['created', 'queued', 'ringing', 'in-progress', 'completed']);
      for (const p of [a, b]) expect(messages(p, REFUSED)).to.deep.equal([]);
    });

    it('ignores a duplicate that reaches the other process, whether its first copy was applied or is held', async () => {
      const [a, b] = [await startProcess(), await startProcess()];
      await a.callbacks.handle(callback(1, 'ringing'));
      await a.callbacks.handle(callback(2, 'in-progress'));
      await b.callbacks.handle(callback(2, 'in-progress'));
      expect(messages(b, REPEATED).map((line) => line.sequence)).to.deep.equal([2]);
      await a.callbacks.handle(callback(0, 'initiated'));
      await b.callbacks.handle(callback(1, 'ringing'));
      await idle();
      expect(messages(b, REPEATED).map((line) => line.sequence)).to.deep.equal([2, 1]);
      expect(await history()).to.deep.equal(['created', 'queued', 'ringing', 'in-progress']);
    });

    it('releases what is held, in order, once the hold is over, though the callback before it never comes', async () => {
      const [a, b] = [await startProcess(150), await startProcess(150)];
      await a.callbacks.handle(callback(3, 'no-answer'));
      await b.callbacks.handle(callback(1, 'ringing'));
      // (That they wait while the hold lasts is pinned with a long hold above and in the store suite.)
      const settled = await eventually(async () => {
        const statuses = await history();
        return statuses.at(-1) === 'no-answer' ? statuses : undefined;
      });
      expect(settled).to.deep.equal(['created', 'queued', 'ringing', 'no-answer']);
    });

    it('tries a failed release of held callbacks again', async () => {
      const a = await startProcess(100, { failFirstRelease: true });
      await a.callbacks.handle(callback(3, 'no-answer'));
      await a.callbacks.handle(callback(1, 'ringing'));
      const settled = await eventually(async () => {
        const statuses = await history();
        return statuses.at(-1) === 'no-answer' ? statuses : undefined;
      });
      expect(settled).to.deep.equal(['created', 'queued', 'ringing', 'no-answer']);
      expect(a.log.lines.filter((line) => line.level === 'error').map((line) => line.message)).to.deep.equal([
        'could not release held status callbacks; trying again',
      ]);
    });

    it('takes over the lease of a process that died applying a callback, once the lease expires', async () => {
      // A process took callback 0's lease for 300 ms, then died before finishing it.
      const dead = await place.open();
      stores.push(dead);
      const offer = await dead.offerCallback(callSid, 0, { callSid, callStatus: 'initiated', sequenceNumber: 0 }, { holdMs: 100, leaseMs: 300 });
      expect(offer.outcome).to.equal('apply');

      const b = await startProcess(100);
      await b.callbacks.handle(callback(1, 'ringing'));
      const settled = await eventually(async () => {
        const statuses = await history();
        return statuses.at(-1) === 'ringing' ? statuses : undefined;
      });
      expect(settled).to.deep.equal(['created', 'queued', 'ringing']);
    });
  });
}
