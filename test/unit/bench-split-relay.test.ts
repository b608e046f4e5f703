// The benchmark's bare relay split over processes (--relay-processes): RELAY_PROCESSES=2 runs a
// node:cluster primary and two relay processes on the one port, measured as one process tree like
// a gateway with WORKERS=2, and SIGTERM stops them all. Real processes; no call is relayed here.
import { expect } from 'chai';
import { startGatewayChild, type GatewayChild } from '../benchmark/lib/gateway-child.js';
import { settledProcessTree } from '../benchmark/lib/proc-stats.js';

const RELAY = 'test/benchmark/lib/bare-relay.ts';
/** Never dialled: the relay opens its converse socket only when a call starts. */
const CONVERSE_URL = 'ws://127.0.0.1:9/v1/agent/converse';

/** Whether a process with this pid still exists (signal 0 only checks). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startRelay(processes: number | undefined): Promise<GatewayChild> {
  return startGatewayChild({
    entry: RELAY,
    label: 'the bare relay',
    startTimeoutMs: 20_000,
    env: { DEEPGRAM_API_KEY: 'bench', DEEPGRAM_VOICE_AGENT_WS_URL: CONVERSE_URL, ...(processes === undefined ? {} : { RELAY_PROCESSES: String(processes) }) },
  });
}

describe('bench: the bare relay split over processes', function () {
  this.timeout(40_000);
  let relay: GatewayChild | undefined;

  afterEach(async () => {
    await relay?.stop(5000);
    relay = undefined;
  });

  it('runs one process by default', async () => {
    relay = await startRelay(undefined);
    expect(await settledProcessTree(relay.pid, 500)).to.deep.equal([relay.pid]);
  });

  it('runs a primary and RELAY_PROCESSES relay processes on one port, and stops them all on SIGTERM', async () => {
    relay = await startRelay(2);
    const tree = await settledProcessTree(relay.pid, 500);
    expect(tree, 'the primary and its two relay processes').to.have.length(3);
    expect((await fetch(`${relay.baseUrl}/health`)).status).to.equal(200);
    const stopped = await relay.stop(10_000);
    relay = undefined;
    expect(stopped).to.deep.equal({ exit: 0, killed: false });
    expect(tree.filter(alive), 'processes left running').to.deep.equal([]);
  });
});
