// Transcript watchers across a fleet: a line or state change that the watcher's snapshot already
// holds (stored before the read, relayed after it) is not sent again; what comes after it is.
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import WebSocket, { WebSocketServer } from 'ws';
import { LiveBus } from '../../src/live/bus.js';
import type { SessionView, TranscriptSocketMessage } from '../../src/rooms/schemas.js';
import { SESSION_EVENTS_TOPIC, sessionShows, type SessionEvent } from '../../src/rooms/session-events.js';
import { transcriptWatchers } from '../../src/rooms/transcript-watch.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { startTestFleet, type TestFleet } from '../helpers/ipc-link.js';

const STARTED = '2026-01-01T00:00:01.000Z';
const stored = { role: 'assistant' as const, text: 'Hello!', at_ms: 200 };
const fresh = { role: 'user' as const, text: 'Hi.', at_ms: 1900 };

/** The session as the store shows it once the agent started and its first line is kept. */
const snapshot: SessionView = {
  session_id: 'ses_1',
  room: 'room-1',
  state: 'active',
  created_at: '2026-01-01T00:00:00.000Z',
  started_at: STARTED,
  transcript: [stored],
};

describe('rooms: transcript watchers', () => {
  let fleet: TestFleet;
  let server: WebSocketServer;
  afterEach(() => {
    server?.close();
    fleet?.close();
  });

  it('sends a watcher on another worker each new change once, and none its snapshot already showed', async () => {
    fleet = await startTestFleet(2);
    const onA = new LiveBus<SessionEvent>(undefined, fleet.channels[0], SESSION_EVENTS_TOPIC);
    const onB = new LiveBus<SessionEvent>(undefined, fleet.channels[1], SESSION_EVENTS_TOPIC);
    const watchers = transcriptWatchers({ bus: onB, logger: silentLogger(), snapshot: async () => snapshot });
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket) => {
      // Worker A stored these and published them; they are still on their way to B when B reads the snapshot.
      onA.publish('ses_1', { type: 'state', state: 'active', at: STARTED });
      onA.publish('ses_1', { type: 'transcript', line: stored, seq: 0 });
      void watchers.attach(socket, 'ses_1');
      onA.publish('ses_1', { type: 'transcript', line: fresh, seq: 1 });
      onA.publish('ses_1', { type: 'state', state: 'ended', at: '2026-01-01T00:00:09.000Z', reason: 'stopped' });
    });
    await once(server, 'listening');
    const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const got: TranscriptSocketMessage[] = [];
    await new Promise<void>((resolve) =>
      client.on('message', (data: Buffer) => {
        got.push(JSON.parse(data.toString()) as TranscriptSocketMessage);
        if (got.length === 3) resolve();
      }),
    );
    client.close();
    expect(got).to.deep.equal([
      { type: 'snapshot', session: snapshot },
      { type: 'transcript', line: fresh },
      { type: 'state', state: 'ended', at: '2026-01-01T00:00:09.000Z', reason: 'stopped' },
    ]);
  });

  it('places lines by position and states by order', () => {
    const extent = { state: 'active' as const, transcriptLines: 2 };
    expect(sessionShows(extent, { type: 'transcript', line: fresh, seq: 1 })).to.equal(true);
    expect(sessionShows(extent, { type: 'transcript', line: fresh, seq: 2 })).to.equal(false);
    expect(sessionShows(extent, { type: 'state', state: 'active', at: STARTED })).to.equal(true);
    expect(sessionShows(extent, { type: 'state', state: 'failed', at: STARTED })).to.equal(false);
    expect(sessionShows({ state: 'ended', transcriptLines: 0 }, { type: 'state', state: 'ended', at: STARTED })).to.equal(true);
  });
});
