// The bench reads what the gateway recorded about a run: with WORKERS > 1 each worker keeps its
// own telemetry under DATA_DIR/workers/<worker>/, and a call counted there is a call counted.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { readGatewayTelemetry } from '../benchmark/lib/gateway-telemetry.js';

const stopLine = (callSid: string, frames: number) =>
  JSON.stringify({ component: 'media_stream', action: 'stop', call_sid: callSid, frames_in: frames, frames_padded: 0, bad_frames: 0, reason: 'twilio_stop' });

describe('bench: the gateway telemetry of a run', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'bench-telemetry-'));
  });
  afterEach(() => rm(dataDir, { recursive: true, force: true }));

  it('reads the calls of one process and of every worker of a cluster', async () => {
    await writeFile(path.join(dataDir, 'telemetry_events.jsonl'), `${stopLine('CA-single', 50)}\n`);
    for (const [worker, callSid] of [['worker-1', 'CA-one'], ['worker-2', 'CA-two']] as const) {
      await mkdir(path.join(dataDir, 'workers', worker), { recursive: true });
      await writeFile(path.join(dataDir, 'workers', worker, 'telemetry_events.jsonl'), `${stopLine(callSid, 100)}\n{not json\n`);
    }
    const telemetry = await readGatewayTelemetry(dataDir);
    expect([...telemetry.stops.keys()].sort()).to.deep.equal(['CA-one', 'CA-single', 'CA-two']);
    expect(telemetry.stops.get('CA-two')?.framesIn).to.equal(100);
    expect(telemetry.unreadableLines).to.equal(2);
  });
});
