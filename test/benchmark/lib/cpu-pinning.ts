// --pin: the measured process gets CPU 0 to itself, as it would have a machine to itself in
// production, and the benchmark's own processes (load generator, fake agent) share the rest.
// Unpinned, all of them compete for the same cores and the scheduler's choices show up as
// relay latency and as CPU per frame (migrations, cold caches). Linux only (taskset).
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface CpuLayout {
  /** taskset list for the process under measurement. */
  measured: string;
  /** taskset list for the benchmark and the processes it starts. */
  others: string;
}

/** Pins this process (every thread) to the other CPUs; children it starts inherit that. */
export function pinBenchmark(): CpuLayout {
  const cpus = os.availableParallelism();
  if (cpus < 2) throw new Error('--pin needs at least 2 CPUs');
  const layout: CpuLayout = { measured: '0', others: cpus === 2 ? '1' : `1-${cpus - 1}` };
  try {
    execFileSync('taskset', ['-a', '-p', '-c', layout.others, String(process.pid)], { stdio: 'ignore' });
  } catch (err) {
    throw new Error(`--pin: taskset failed (${(err as Error).message.split('\n')[0]}); is util-linux installed?`);
  }
  return layout;
}

export function describeLayout(layout: CpuLayout | undefined, cores: number): string {
  return layout
    ? `measured process alone on CPU ${layout.measured}, load generator and fake processes on CPU ${layout.others}`
    : `${cores} cores shared by the measured process, the load generator and the fake processes`;
}
