// Live events across a fleet: a watcher on one worker sees what happens on another, once. An
// event whose effect was already in the watcher's snapshot (it was stored before the snapshot was
// read but reached this worker after) is not sent again; what comes after it is.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import WebSocket, { WebSocketServer } from 'ws';
import { LiveBus, type LiveMessage } from '../../src/live/bus.js';
import { LiveWatchers } from '../../src/live/watch.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import type { TaskView } from '../../src/tasks/view.js';
import { startTestFleet, type TestFleet } from '../helpers/ipc-link.js';

const AT = '2026-01-01T00:00:01.000Z';
const stored = { role: 'user' as const, text: 'hello there', atMs: 1200 };
const fresh = { role: 'assistant' as const, text: 'hi, how can I help?', atMs: 2400 };
const ready = { state: 'ready' as const, analysis: { summary: 's', outcome: { goal_reached: null, explanation: 'e' }, sentiment: 'neutral' as const, action_items: [], key_facts: {} } };

/** The task as the store shows it once the line, the move to in-progress and the analysis are kept. */
const snapshot = {
  id: 't1',
  to: '+15550002222',
  from: '+15550001111',
  status: 'completed',
  history: [
    { status: 'created', at: '2026-01-01T00:00:00.000Z' },
    { status: 'in-progress', at: AT },
  ],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: AT,
  transcript: [stored],
  analysis: ready,
} as TaskView;

describe('live events across the fleet', () => {
  let fleet: TestFleet;
  let server: WebSocketServer;
  afterEach(() => {
    server?.close();
    fleet?.close();
  });

  it('sends a watcher on another worker every new event once, and none the snapshot already showed', async () => {
    fleet = await startTestFleet(2);
    const onA = new LiveBus(undefined, fleet.channels[0]);
    const onB = new LiveBus(undefined, fleet.channels[1]);
    const watchers = new LiveWatchers({ bus: onB, logger: silentLogger(), snapshot: async () => snapshot });
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket) => {
      // Worker A stored these and published them; they are still on their way to B when B reads the snapshot.
      onA.publish('t1', { type: 'transcript', line: stored, seq: 0 });
      onA.publish('t1', { type: 'status', status: 'in-progress', at: AT, seq: 1 });
      onA.publish('t1', { type: 'analysis', ...ready });
      void watchers.attach(socket, 't1');
      onA.publish('t1', { type: 'transcript', line: fresh, seq: 1 });
      onA.publish('t1', { type: 'latency', metric: 'turn_latency', ms: 640 });
    });
    await once(server, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const got: LiveMessage[] = [];
    await new Promise<void>((resolve) =>
      client.on('message', (data: Buffer) => {
        got.push(JSON.parse(data.toString()) as LiveMessage);
        if (got.length === 3) resolve();
      }),
    );
    client.close();
    expect(got.map((m) => m.type)).to.deep.equal(['snapshot', 'transcript', 'latency']);
    expect(got[1]).to.deep.equal({ type: 'transcript', line: fresh });
  });
});
