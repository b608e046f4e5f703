// The deepgram benchmark's --repeats summary: each target's medians over the runs, and a gateway
// judged on them, never on its best or worst run.
import { expect } from 'chai';
import { formatRepeatSummary, WORKERS_GOALS, type DeepgramResult, type TargetResult } from '../benchmark/deepgram.js';

function target(role: 'relay' | 'gateway', cpuRatio: number | undefined, p99Ms: number, lost = 0): TargetResult {
  const key = role === 'relay' ? 'relay' : 'gateway-w2';
  return {
    target: key,
    role,
    label: role === 'relay' ? 'bare relay' : 'gateway, 2 workers',
    cpu: { usPerFrame: 50 * (cpuRatio ?? 1) },
    latencyMs: { p99: p99Ms },
    frames: { lost, lostBeforeTarget: role === 'gateway' ? 0 : undefined },
    vsRelay: cpuRatio === undefined ? undefined : { cpuRatio, p99Ratio: p99Ms / 4 },
    goalTargets: WORKERS_GOALS,
  } as unknown as TargetResult;
}

const run = (gatewayCpuRatio: number, gatewayP99Ms: number, lost = 0): DeepgramResult =>
  ({ calls: 200, targets: [target('relay', undefined, 4), target('gateway', gatewayCpuRatio, gatewayP99Ms, lost)] }) as unknown as DeepgramResult;

describe('bench: deepgram --repeats summary', () => {
  it('judges a gateway on its median CPU ratio and p99, whatever one run says', () => {
    const lines = formatRepeatSummary([run(1.2, 5), run(1.6, 12), run(1.25, 5.5)]).join('\n');
    expect(lines).to.include('medians over 3 runs of 200 calls');
    expect(lines).to.include('CPU per call 1.25x the relay\'s (runs: 1.20, 1.60, 1.25)');
    expect(lines).to.include('p99 5.50 ms');
    expect(lines).to.match(/CPU <= 1\.3x: PASS; p99 < 10 ms and <= 1\.5x: PASS; frames lost 0 \(goal 0\): PASS/);
  });

  it('fails the goals the medians miss, and counts every lost frame over the runs', () => {
    const lines = formatRepeatSummary([run(1.35, 5, 2), run(1.4, 7), run(1.2, 4)]).join('\n');
    expect(lines).to.include('CPU per call 1.35x');
    // p99 median 5 ms is under 10 ms but 1.25x the relay's 4 ms: within 1.5x.
    expect(lines).to.match(/CPU <= 1\.3x: FAIL; p99 < 10 ms and <= 1\.5x: PASS; frames lost 2 \(goal 0\): FAIL/);
  });

  it('fails p99 over 1.5x the relay\'s even under 10 ms', () => {
    const lines = formatRepeatSummary([run(1.2, 7), run(1.2, 8), run(1.2, 9)]).join('\n');
    expect(lines).to.match(/p99 < 10 ms and <= 1\.5x: FAIL/);
  });

  it('prints nothing for no runs', () => {
    expect(formatRepeatSummary([])).to.deep.equal([]);
  });
});
