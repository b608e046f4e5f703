// The room agent worker against a fake of LiveKit's `/agent` endpoint over a real socket: it
// registers for room jobs under LIVEKIT_AGENT_NAME, answers a job offer, accepts the assignment,
// and the framework forks a job process that runs the room agent (room-agent.ts) with the
// dispatch metadata. The room connection itself needs an SFU: the job fails there, as it must,
// and says so through the sink.
import { expect } from 'chai';
import { JobType, WorkerStatus } from '@livekit/protocol';
import { TokenVerifier } from 'livekit-server-sdk';
import { RoomAgentWorker } from '../../src/rooms/agent-worker.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { FakeLivekitAgentServer } from '../helpers/fake-livekit-agent-server.js';
import { RecordingRoomSink } from '../helpers/recording-room-sink.js';
import { startTestGateway } from '../helpers/test-gateway.js';

const API_KEY = 'APIroomtest';
const API_SECRET = 'room-test-secret-of-enough-length-for-hs256';
const AGENT_NAME = 'room-test-agent';

describe('room agent worker, dispatched by a fake LiveKit /agent endpoint', function () {
  // Forking a job process and loading the framework in it takes a few seconds on a busy machine.
  this.timeout(90_000);
  let server: FakeLivekitAgentServer;
  let worker: RoomAgentWorker;
  const sink = new RecordingRoomSink();
  const log = capturingLogger('debug');

  before(async () => {
    server = await FakeLivekitAgentServer.start();
    worker = new RoomAgentWorker({
      config: {
        livekit: {
          url: server.url,
          apiKey: API_KEY,
          apiSecret: API_SECRET,
          agentName: AGENT_NAME,
          tokenTtlS: 3600,
          tokenDispatchesAgent: false,
          sessionStartTimeoutS: 120,
          worker: { mode: 'inline', idleProcesses: 0, healthPort: 0 },
        },
        logLevel: 'warn',
      },
      logger: log.logger,
      sink,
    });
    await worker.start();
  });

  after(async () => {
    await worker?.close();
    await server?.close();
  });

  it('registers for room jobs under LIVEKIT_AGENT_NAME, with an agent token signed by the API secret', async () => {
    const register = await server.next('register');
    expect(register.message.value.type).to.equal(JobType.JT_ROOM);
    expect(register.message.value.agentName).to.equal(AGENT_NAME);
    const [authorization] = server.authorizations;
    expect(authorization).to.match(/^Bearer /);
    const claims = await new TokenVerifier(API_KEY, API_SECRET).verify(authorization!.slice('Bearer '.length));
    expect(claims.video?.agent).to.equal(true);
  });

  it('accepts a dispatched job and runs the room agent on its metadata in a job process, which records the session as started', async () => {
    await server.next('register');
    const metadata = JSON.stringify({ session_id: 'sess-42', system_prompt: 'You are a museum guide.', greeting: 'Welcome!' });
    server.offerJob({ id: 'AJ_room1', room: 'room-1', agentName: AGENT_NAME, metadata });

    const availability = await server.next('availability');
    expect(availability.message.value).to.include({ jobId: 'AJ_room1', available: true });

    // The session id comes from the metadata, parsed in the forked job process, and reaches this
    // process's sink through the worker's relay, before the job tries to join the room.
    const started = await sink.next('started', 60_000);
    expect(started).to.deep.equal({ op: 'started', sessionId: 'sess-42', info: { jobId: 'AJ_room1' } });

    // Joining the room needs an SFU, which the fake is not: the job ends and says why, once.
    const ended = await sink.next('ended', 60_000);
    expect(ended.sessionId).to.equal('sess-42');
    expect(ended.reason).to.match(/^room_unreachable: /);
    expect(sink.calls.map((c) => c.op)).to.deep.equal(['started', 'ended']);
  });
});

describe('room agent worker inside the gateway', function () {
  this.timeout(90_000);

  it('registers when LIVEKIT_* are set, and the gateway\'s drain tells LiveKit it takes no new job', async () => {
    const server = await FakeLivekitAgentServer.start();
    const t = await startTestGateway({ LIVEKIT_URL: server.url, LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, LIVEKIT_AGENT_NAME: 'inline-agent', LIVEKIT_AGENT_IDLE_PROCESSES: '0' });
    try {
      const register = await server.next('register');
      expect(register.message.value.agentName).to.equal('inline-agent');
      await t.gateway.drain(5_000);
      // The worker reports its load every 2.5 s as available; after the drain, as full.
      const full = await server.next('updateWorker', 30_000, (m) => m.message.value.status === WorkerStatus.WS_FULL);
      expect(full.message.value.status).to.equal(WorkerStatus.WS_FULL);
    } finally {
      await t.close();
      await server.close();
    }
  });

  it('does not run with LIVEKIT_AGENT_WORKER=off', async () => {
    const server = await FakeLivekitAgentServer.start();
    const t = await startTestGateway({ LIVEKIT_URL: server.url, LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, LIVEKIT_AGENT_WORKER: 'off' });
    try {
      // A call's worth of time: a worker would have connected at once.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(server.authorizations).to.deep.equal([]);
    } finally {
      await t.close();
      await server.close();
    }
  });
});
