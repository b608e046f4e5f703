// A call whose gateway was killed mid-call never reaches the call hooks' end: the next start ends
// it as `gateway_restarted` (calls/restart-settle.ts), and its record goes to the persistence
// service from the stored call. A real gateway process killed with SIGKILL, a fake Twilio caller,
// and the local stand-in of the service.
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import type { CallPage } from '../../src/calls/schemas.js';
import { CallRecord } from '../../src/persistence/schemas.js';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { startGatewayChild, type GatewayChild } from '../benchmark/lib/gateway-child.js';
import { FakePersistenceService } from '../helpers/persistence-service.js';
import { eventually } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const TOKEN = 'ingest-token';
const FROM = '+15550001111';
const TO = '+15550002222';

describe('the record of a call a crash ended', function () {
  this.timeout(60_000);
  let root: string;
  let service: FakePersistenceService;
  let child: GatewayChild | undefined;
  let caller: FakeTwilioCaller | undefined;
  let restarted: TestGateway | undefined;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'persistence-restart-'));
    service = new FakePersistenceService(TOKEN);
    await service.start();
  });
  afterEach(async () => {
    caller?.close();
    await child?.stop(2000);
    await restarted?.close();
    await service.stop();
    await rm(root, { recursive: true, force: true });
    caller = child = restarted = undefined;
  });

  it('arrives once, from the restart, ended as gateway_restarted with the parties and the repaired recording', async () => {
    const env = {
      DATA_DIR: path.join(root, 'data'),
      RECORDINGS_DIR: path.join(root, 'recordings'),
      DJANGO_BASE_URL: service.baseUrl,
      INGEST_TOKEN: TOKEN,
      INGEST_RETRY_MIN_MS: '20',
      INGEST_RETRY_MAX_MS: '200',
    };
    child = await startGatewayChild({ env: { ...env, LOG_LEVEL: 'warn' }, startTimeoutMs: 20_000 });
    const callSid = randomSid('CA');
    caller = new FakeTwilioCaller({ url: child.wsUrl, speed: 8, callSid, customParameters: { from: FROM, to: TO, direction: 'inbound' } });
    await caller.connect();
    void caller.streamSilence(5000);
    const base = child.baseUrl;
    await eventually(async () => {
      const page = (await (await fetch(`${base}/api/calls`)).json()) as CallPage;
      return page.calls.some((c) => c.streamSid === caller!.streamSid && c.status === 'in-progress') || undefined;
    }, 10_000, 'the call in progress');
    // Half a second of stereo PCM16 on disk: the restart has a recording to repair.
    const recordings = env.RECORDINGS_DIR;
    await eventually(async () => {
      const part = (await readdir(recordings).catch(() => [])).find((f) => f.endsWith('.wav.part'));
      return part !== undefined && (await stat(path.join(recordings, part))).size >= 44 + 4000 * 4 ? true : undefined;
    }, 10_000, 'a part file with audio');

    process.kill(child.pid, 'SIGKILL');
    expect(await child.exited).to.equal('SIGKILL');
    child = undefined;
    caller.close();
    expect(service.to('/api/ingest/calls'), 'nothing sent by the killed process').to.have.length(0);

    restarted = await startTestGateway(env);
    const key = `call:${caller.streamSid}`;
    const stored = await eventually(() => service.stored.get(key), 15_000, 'the call record');
    const record = CallRecord.parse(JSON.parse(stored.body));
    expect(record).to.deep.include({
      call_id: caller.streamSid,
      call_sid: callSid,
      stream_sid: caller.streamSid,
      task_id: null,
      from: FROM,
      to: TO,
      direction: 'inbound',
      agent: 'echo',
      end_reason: 'gateway_restarted',
      transcript: [],
    });
    expect(record.recording).to.match(new RegExp(`_${callSid}_${caller.streamSid}\\.wav$`));
    expect(Date.parse(record.ended_at)).to.be.greaterThan(Date.parse(record.started_at));
    expect(service.to('/api/ingest/calls').map((r) => r.headers['idempotency-key'])).to.deep.equal([key]);
  });
});
