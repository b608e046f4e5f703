import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventLoopMonitor } from '../../src/telemetry/event-loop.js';
import { Telemetry } from '../../src/telemetry/events.js';

/** Keeps the event loop busy for `ms`, as a slow callback would. */
function block(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

describe('EventLoopMonitor', () => {
  it('reports a blocked loop as delay and utilization, and records it as telemetry', async () => {
    const telemetry = new Telemetry({ noisyEveryN: 1 });
    const monitor = new EventLoopMonitor(telemetry, 60_000);
    monitor.start();
    try {
      await sleep(100);
      // Long enough that an idle loop on a loaded CI machine stays well clear of it.
      block(200);
      await sleep(50);
      const report = monitor.report();
      expect(report.maxMs).to.be.at.least(150);
      expect(report.utilization).to.be.greaterThan(0.2);
      const [event] = telemetry.recent({ component: 'runtime', action: 'event_loop' });
      expect(event).to.deep.include({ duration_ms: Math.round(report.p99Ms * 100) / 100, maxMs: Math.round(report.maxMs * 100) / 100 });

      // The next interval starts afresh: an idle loop shows no such delay.
      await sleep(150);
      const idle = monitor.report();
      expect(idle.maxMs).to.be.below(report.maxMs);
      // Typical delay, not the block: a margin for a busy machine (the benchmark reports the real figures).
      expect(idle.p50Ms).to.be.below(100);
    } finally {
      monitor.stop();
    }
  });
});
