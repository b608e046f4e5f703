// Caller audio an agent in a worker never got is reported when its call ends, in telemetry and the
// log: the worker's ring overflowing (agent_worker/frames_dropped) and, here, the agent's own input
// queue (agent/frames_dropped), which the LiveKit pipeline's input counts (TwilioAudioInput).
import { expect } from 'chai';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { DROPPING_AGENT, QUEUED_FRAMES } from '../helpers/dropping-agent.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

describe('caller frames an agent in a worker dropped itself', function () {
  this.timeout(30_000);
  let t: TestGateway | undefined;
  let c: FakeTwilioCaller | undefined;

  afterEach(async () => {
    c?.close();
    await t?.close();
  });

  it('are reported once, when the call ends, as agent/frames_dropped with the call\'s ids', async () => {
    t = await startTestGateway({ AGENT_WORKERS: '1' }, { offThreadAgent: DROPPING_AGENT });
    c = new FakeTwilioCaller({ url: t.wsUrl, speed: 8 });
    await c.connect();
    await c.streamSilence(1000); // 50 frames
    await c.stop();
    const summary = await t.nextEnded(10_000);

    const drops = t.telemetry.recent({ component: 'agent', action: 'frames_dropped' });
    expect(drops).to.have.length(1);
    expect(drops[0]).to.include({ call_sid: summary.callSid, stream_sid: summary.streamSid, agent: 'dropping-test' });
    // Every frame the agent got beyond its queue. A few at either end may not count: the first may
    // arrive before the agent has started, and on a loaded machine the last ones may still be in the
    // ring when the stop (on the message port, a separate channel) closes the call.
    expect(drops[0]!.frames).to.be.within(50 - QUEUED_FRAMES - 8, 50 - QUEUED_FRAMES);
    expect(t.telemetry.recent({ component: 'agent_worker', action: 'frames_dropped' })).to.deep.equal([], 'the ring dropped nothing');
  });
});
