// Task writes that race: two store objects on one file (two workers, two gateways) moving the same
// task; a call's hooks feeding a slow store; a watcher subscribing while its snapshot is read.
import { expect } from 'chai';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import type { CallContext, TranscriptLine } from '../../src/agents/bridge.js';
import type { CallSummary } from '../../src/call/call-types.js';
import { LiveBus, type LiveEvent, type LiveMessage } from '../../src/live/bus.js';
import { LiveWatchers } from '../../src/live/watch.js';
import { createLlmClient } from '../../src/llm/index.js';
import { LlmError, type LlmClient } from '../../src/llm/types.js';
import type { CallAnalysis } from '../../src/tasks/model.js';
import { AnalysisRunner } from '../../src/tasks/analysis-runner.js';
import { LiveStreams, TaskCallHooks } from '../../src/tasks/call-hooks.js';
import { openSqliteTaskStore } from '../../src/tasks/sqlite-store.js';
import type { TaskStore } from '../../src/tasks/store.js';
import { settleLastRun } from '../../src/tasks/restart-settle.js';
import { StatusCallbacks } from '../../src/tasks/status-callbacks.js';
import { TaskTransitions } from '../../src/tasks/transitions.js';
import type { CallStatusUpdate } from '../../src/twilio/webhooks.js';
import { taskView } from '../../src/tasks/view.js';
import { Telemetry } from '../../src/telemetry/events.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { laggingStore } from '../helpers/lagging-store.js';
import { chatCompletion, eventually } from '../helpers/task-api.js';
import nock from 'nock';

const TO = '+14155550123';
const FROM = '+14155550100';
const CALL_SID = 'CA' + 'f'.repeat(32);
const STALE_AFTER_MS = 60_000;
const ANALYSIS: CallAnalysis = {
  summary: 'The caller moved their appointment to Tuesday at ten.',
  outcome: { goal_reached: true, explanation: 'A new slot was agreed.' },
  sentiment: 'positive',
  action_items: ['Send the new time by SMS'],
  key_facts: { new_slot: 'Tuesday 10:00' },
};
const LINES: TranscriptLine[] = [
  { role: 'assistant', text: 'Hello, this is the clinic.', atMs: 100 },
  { role: 'user', text: 'I need to move my appointment.', atMs: 1800 },
  { role: 'assistant', text: 'Tuesday at ten works.', atMs: 4200 },
];

describe('task writes that race', () => {
  let dir: string;
  let opened: TaskStore[];

  /** Another connection to the same file, as another process would hold. */
  const openStore = (): TaskStore => {
    const store = openSqliteTaskStore(dir);
    opened.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'task-writes-'));
    opened = [];
  });

  afterEach(async () => {
    for (const store of opened) await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The task domain's pieces around one store, as createTaskDomain wires them (by default no LLM key: analyses fail). */
  function domain(store: TaskStore, options: { llm?: () => LlmClient; now?: () => Date } = {}) {
    const bus = new LiveBus();
    const logger = silentLogger();
    const transitions = new TaskTransitions(store, bus, logger);
    const streams = new LiveStreams();
    const analysis = new AnalysisRunner({
      store,
      bus,
      logger,
      telemetry: new Telemetry({ noisyEveryN: 1 }),
      llm:
        options.llm ??
        (() => {
          throw new LlmError('missing_key', 'LLM_PROVIDER=openai needs OPENAI_API_KEY');
        }),
      streamLive: (taskId) => streams.has(taskId),
      staleAfterMs: STALE_AFTER_MS,
      now: options.now,
    });
    const hooks = new TaskCallHooks({ store, transitions, bus, analysis, streams, logger, streamEndsTask: true, memberId: 'test-member' });
    return { bus, transitions, hooks, analysis, streams, logger };
  }

  const callOf = (taskId: string): CallContext => ({ streamSid: 'MZ1', callSid: CALL_SID, parameters: {}, taskId, prompt: undefined, greeting: undefined });

  function endOf(call: CallContext): CallSummary {
    return {
      sessionId: 'session-1',
      streamSid: call.streamSid,
      callSid: call.callSid,
      taskId: call.taskId,
      reason: 'twilio_stop',
      detail: undefined,
      startedAt: new Date().toISOString(),
      endedAt: new Date().toISOString(),
      durationMs: 5000,
      recording: { path: path.join(dir, 'call.wav'), durationMs: 5000, bytes: 160_044, droppedLateCallerFrames: 0, failedWrites: 0, droppedJumpCallerFrames: 0 },
      transcript: LINES,
      stats: { framesIn: 250, framesPadded: 0, badFrames: {}, sequenceGaps: 0, playback: { framesSent: 0, marksSent: 0, staleMarks: 0, clears: 0, droppedBytes: 0 } },
    };
  }

  describe('TaskTransitions', () => {
    it('of two stores on one file moving the same task at once, one moves and the other hears why not; the history has each move once', async () => {
      // A millisecond per store call, so the two moves' awaits interleave as across processes.
      const [a, b] = [laggingStore(openStore(), {}, 1), laggingStore(openStore(), {}, 1)];
      const events: LiveEvent[] = [];
      const [first, second] = [domain(a), domain(b)];
      const { id } = await a.create({ to: TO, from: FROM });
      for (const side of [first, second]) side.bus.subscribe(id, (event) => events.push(event));
      await a.transition(id, 'queued');

      const answered = await Promise.all([
        first.transitions.move(id, 'in-progress', {}, 'twilio-status'),
        second.transitions.move(id, 'in-progress', {}, 'media-stream'),
      ]);
      expect(answered.filter((r) => r.moved)).to.have.length(1);
      expect(answered.find((r) => !r.moved)).to.deep.include({ moved: false, why: 'unchanged' });

      const ended = await Promise.all([
        first.transitions.move(id, 'completed', { endReason: 'caller hung up' }, 'twilio-status'),
        second.transitions.move(id, 'failed', { endReason: 'stream lost' }, 'media-stream'),
      ]);
      const winner = ended.find((r) => r.moved);
      const loser = ended.find((r) => !r.moved);
      expect(winner?.moved && winner.task.status).to.be.oneOf(['completed', 'failed']);
      expect(loser).to.deep.include({ moved: false, why: 'not_allowed' });
      const final = winner?.moved ? winner.task.status : undefined;
      expect(loser && !loser.moved && loser.why === 'not_allowed' && loser.task.status).to.equal(final);

      const history = (await a.get(id))!.history.map((change) => change.status);
      expect(history).to.deep.equal(['created', 'queued', 'in-progress', final]);
      // One announcement per move made, placed where the history has it.
      expect(events).to.have.length(2);
      expect(events.map((e) => e.type === 'status' && [e.status, e.seq])).to.deep.equal([
        ['in-progress', 2],
        [final, 3],
      ]);
    });
  });

  describe('StatusCallbacks', () => {
    const callback = (sequenceNumber: number, callStatus: string): CallStatusUpdate => ({
      callSid: CALL_SID,
      callStatus,
      sequenceNumber,
      callDuration: undefined,
      answeredBy: undefined,
      timestamp: undefined,
      taskId: undefined,
      params: {},
    });

    it("applies one call's callbacks one after another in sequence order, though the store answers a later move first", async () => {
      const real = openStore();
      const { id } = await real.create({ to: TO, from: FROM });
      await real.transition(id, 'queued', { callSid: CALL_SID }, 'api');
      // The first move takes 30 ms, later ones none: applied side by side, the second would land first.
      const store = laggingStore(real, { transition: (nth) => (nth === 0 ? 30 : 0) });
      const { transitions, analysis } = domain(store);
      const callbacks = new StatusCallbacks({ store, transitions, analysis, logger: silentLogger(), holdMs: 10_000 });

      // Twilio delivers `in-progress` before `ringing`: it waits, then both are released together.
      const early = callbacks.handle(callback(1, 'in-progress'));
      await callbacks.handle(callback(0, 'ringing'));
      await early;
      await callbacks.idle();
      callbacks.close();

      expect((await real.get(id))!.history.map((change) => change.status)).to.deep.equal(['created', 'queued', 'ringing', 'in-progress']);
    });
  });

  describe('AnalysisRunner', () => {
    before(() => nock.disableNetConnect());
    after(() => nock.enableNetConnect());
    afterEach(() => nock.cleanAll());

    const llm = () => createLlmClient({ provider: 'openai', openaiApiKey: 'sk-test-analysis-0123456789' });

    /** A completed call with its transcript, in the shared file. */
    async function completedTask(store: TaskStore): Promise<string> {
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'in-progress', { callSid: `CA${id.slice(5)}` }, 'media-stream');
      for (const line of LINES) await store.appendTranscript(id, line);
      await store.transition(id, 'completed', {}, 'twilio-status');
      return id;
    }

    const stateOf = async (store: TaskStore, id: string) => (await store.get(id))?.analysis?.state;

    it('of two processes told at once that a call is over, one asks the LLM; the other finds it claimed', async () => {
      const stores = [openStore(), openStore()];
      const id = await completedTask(stores[0]!);
      let requests = 0;
      nock('https://api.openai.com')
        .post('/v1/chat/completions')
        .times(2)
        .reply(200, () => (requests++, chatCompletion(JSON.stringify(ANALYSIS))));
      const runners = stores.map((store) => domain(store, { llm }).analysis);

      await Promise.all(runners.map((runner) => runner.startIfDue(id)));
      await eventually(async () => ((await stateOf(stores[1]!, id)) === 'ready' ? true : undefined), 5000, 'the analysis');
      expect((await stores[1]!.get(id))?.analysis).to.deep.equal({ state: 'ready', analysis: ANALYSIS });
      expect(requests).to.equal(1);
    });

    it('takes over an analysis left pending by a process that died, once its claim is older than the stale window', async () => {
      const store = openStore();
      const id = await completedTask(store);
      // The dead process claimed it and never finished.
      expect(await openStore().claimAnalysis(id, { staleBefore: new Date(0), retryFailed: false })).not.to.equal(undefined);
      nock('https://api.openai.com').post('/v1/chat/completions').reply(200, chatCompletion(JSON.stringify(ANALYSIS)));

      const now = domain(store, { llm }).analysis;
      await now.startIfDue(id);
      // Claimed a moment ago: it may still be under way elsewhere, so nothing starts here.
      expect(now.isRunning(id)).to.equal(false);
      expect(await stateOf(store, id)).to.equal('pending');

      const later = new Date(Date.now() + STALE_AFTER_MS + 1000);
      await domain(store, { llm, now: () => later }).analysis.startIfDue(id);
      await eventually(async () => ((await stateOf(store, id)) === 'ready' ? true : undefined), 5000, 'the analysis');
      expect(nock.isDone()).to.equal(true);
    });
  });

  describe('settleLastRun', () => {
    it('run by two processes at once over what a dead one left, closes each task once', async () => {
      const real = openStore();
      const ids: string[] = [];
      for (let i = 0; i < 6; i++) {
        const { id } = await real.create({ to: TO, from: FROM });
        await real.transition(id, 'in-progress', { callSid: `CA${id.slice(5)}` }, 'media-stream');
        ids.push(id);
      }
      const survivors = [laggingStore(openStore(), {}, 1), laggingStore(openStore(), {}, 1)].map((store) => ({ store, ...domain(store) }));
      const reports = await Promise.all(
        survivors.map(({ store, transitions, analysis, streams, logger }) =>
          settleLastRun({ store, transitions, analysis, streams, logger, telephony: undefined, isLiveMember: () => false }, { repaired: [], inUse: [] }),
        ),
      );

      const settled = reports.flatMap((report) => report.settled);
      expect([...settled].sort()).to.deep.equal([...ids].sort());
      for (const id of ids) {
        expect((await real.get(id))!.history.map((change) => change.status), id).to.deep.equal(['created', 'in-progress', 'completed']);
      }
    });
  });

  describe('TaskCallHooks', () => {
    it('through a slow store, stores a call as it reported it: the CallSid before the first line, every line in order, then the end', async () => {
      // Task rows answer slowly, transcript lines at once: writes fired without a queue would land out of order.
      const store = laggingStore(openStore(), { appendTranscript: 0 }, 10);
      const { bus, hooks } = domain(store);
      const { id } = await store.create({ to: TO, from: FROM });
      const events: LiveEvent[] = [];
      // The analysis (failed: no LLM key) is announced last, after the end is stored.
      const analysed = new Promise<void>((resolve) =>
        bus.subscribe(id, (event) => {
          events.push(event);
          if (event.type === 'analysis') resolve();
        }),
      );
      const call = callOf(id);

      // As a call reports them: synchronously, back to back, its end right after its last line.
      hooks.started(call);
      for (const line of LINES) hooks.transcript(call, line);
      hooks.ended(endOf(call));
      await hooks.idle();
      await analysed;

      const task = (await store.get(id))!;
      expect(task).to.deep.include({ callSid: CALL_SID, status: 'completed', recordingPath: path.join(dir, 'call.wav'), endReason: 'twilio_stop' });
      expect(task.transcript).to.deep.equal(LINES);
      const adopted = store.done.indexOf(`update ${JSON.stringify({ callSid: CALL_SID })}`);
      const firstLine = store.done.findIndex((write) => write.startsWith('appendTranscript'));
      expect(adopted).to.be.at.least(0);
      expect(adopted).to.be.below(firstLine);
      expect(events.map((e) => (e.type === 'status' ? `status ${e.status} #${e.seq}` : e.type === 'transcript' ? `line #${e.seq}` : e.type))).to.deep.equal([
        'status in-progress #1',
        'line #0',
        'line #1',
        'line #2',
        'call_ended',
        'status completed #2',
        'analysis',
      ]);
    });
  });

  describe('LiveWatchers', () => {
    let wss: WebSocketServer | undefined;
    let client: WebSocket | undefined;

    afterEach(async () => {
      client?.terminate();
      if (wss) await new Promise((resolve) => wss!.close(resolve));
      wss = client = undefined;
    });

    it('sends every event once and in order when moves and lines land while the snapshot is read', async () => {
      const store = openStore();
      const { bus, hooks } = domain(store);
      const { id } = await store.create({ to: TO, from: FROM });
      await store.transition(id, 'queued', {}, 'api');
      const call = callOf(id);
      const watchers = new LiveWatchers({
        bus,
        logger: silentLogger(),
        snapshot: async (taskId) => {
          // Stored and announced after the watcher subscribed but before the read: both the
          // snapshot and the bus carry these (the answer, the first line).
          hooks.started(call);
          hooks.transcript(call, LINES[0]!);
          await hooks.settled(taskId);
          const view = taskView((await store.get(taskId))!);
          // Stored after the read, before the snapshot goes out: only the bus carries it.
          hooks.transcript(call, LINES[1]!);
          await hooks.settled(taskId);
          return view;
        },
      });
      wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
      wss.on('connection', (socket) => void watchers.attach(socket, id));
      await once(wss, 'listening');
      client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
      const messages: Array<LiveMessage & { seq?: number }> = [];
      const analysed = new Promise<void>((resolve) =>
        client!.on('message', (data) => {
          const message = JSON.parse(String(data)) as LiveMessage;
          messages.push(message);
          if (message.type === 'snapshot') {
            // A copy of the first line relayed late from another process: the snapshot has it.
            bus.publish(id, { type: 'transcript', line: LINES[0]!, seq: 0 });
            // Live from here on.
            hooks.transcript(call, LINES[2]!);
            hooks.ended(endOf(call));
          }
          if (message.type === 'analysis') resolve();
        }),
      );
      await analysed;

      const snapshot = messages[0];
      expect(snapshot?.type).to.equal('snapshot');
      if (snapshot?.type !== 'snapshot') return;
      expect(snapshot.task.status).to.equal('in-progress');
      expect(snapshot.task.transcript).to.deep.equal([LINES[0]]);
      expect(messages.slice(1).map((m) => (m.type === 'status' ? `status ${m.status}` : m.type === 'transcript' ? m.line.text : m.type))).to.deep.equal([
        LINES[1]!.text,
        LINES[2]!.text,
        'call_ended',
        'status completed',
        'analysis',
      ]);
      // Where an event sits in the task is the bus's business, not the watcher's.
      expect(messages.filter((m) => 'seq' in m)).to.deep.equal([]);
    });
  });
});
