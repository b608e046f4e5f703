import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import { CallClock } from '../../src/call/call-clock.js';
import { FRAME_BYTES } from '../../src/twilio/protocol.js';

describe('CallClock', () => {
  const padded: number[] = [];
  const clock = (maxLeadMs = 5000, startedWall = performance.now()) =>
    new CallClock({
      startedWall,
      maxLeadMs,
      padSilence: (frame, atMs) => {
        expect(frame.length).to.equal(FRAME_BYTES);
        padded.push(atMs);
      },
    });

  beforeEach(() => (padded.length = 0));

  it('places frames in order and pads a short gap with silence for the agent', () => {
    // The stream opened 10 s ago, so these timestamps are all within the lead.
    const c = clock(5000, performance.now() - 10_000);
    expect(c.callerFrame(0, FRAME_BYTES)).to.equal('placed');
    expect(c.callerFrame(20, FRAME_BYTES)).to.equal('placed');
    expect(c.callerFrame(100, FRAME_BYTES)).to.equal('placed'); // 40, 60, 80 never came
    expect(padded).to.deep.equal([40, 60, 80]);
    expect(c.now()).to.be.at.least(120);
  });

  it('calls a frame behind the clock stale and one far ahead of the wall clock a jump; neither moves the clock', () => {
    const c = clock(5000);
    expect(c.callerFrame(0, FRAME_BYTES)).to.equal('placed');
    expect(c.callerFrame(3_600_000, FRAME_BYTES)).to.equal('timestamp_jump');
    expect(c.callerFrame(4_000, FRAME_BYTES)).to.equal('placed'); // within 5 s of the wall clock
    expect(c.callerFrame(1_000, FRAME_BYTES)).to.equal('stale_media');
    expect(c.now()).to.be.below(10_000);
  });

  it('refuses a first frame that already leads the wall clock by more than the bound', () => {
    const c = clock(1000);
    expect(c.callerFrame(60_000, FRAME_BYTES)).to.equal('timestamp_jump');
    expect(c.callerFrame(0, FRAME_BYTES)).to.equal('placed');
    expect(padded).to.deep.equal([]);
  });

  it('places frames streamed faster than real time, however far their timestamps lead the wall clock', () => {
    const c = clock(1000);
    for (let t = 0; t < 60_000; t += 20) expect(c.callerFrame(t, FRAME_BYTES)).to.equal('placed');
    expect(padded).to.deep.equal([]);
  });

  it('adds the gaps up: several jumps each within the bound still cannot outrun the wall clock', () => {
    const c = clock(5000);
    expect(c.callerFrame(0, FRAME_BYTES)).to.equal('placed');
    expect(c.callerFrame(4000, FRAME_BYTES)).to.equal('placed');
    expect(c.callerFrame(8000, FRAME_BYTES)).to.equal('timestamp_jump'); // 7.96 s missing after ~0 s
    expect(c.callerFrame(4020, FRAME_BYTES)).to.equal('placed'); // the stream carries on in step
  });

  it('measures idleness from the newest frame, or from the start before any', () => {
    const c = clock(5000, performance.now() - 3000);
    expect(c.idleMs()).to.be.at.least(3000);
    c.callerFrame(0, FRAME_BYTES);
    expect(c.idleMs()).to.be.below(3000);
  });
});
