// Runs each call's post-call analysis once: when the task is `completed` and its media stream has
// ended, whichever comes last. `pending` is stored synchronously before the LLM is asked, so a
// second trigger in the same moment sees it and does nothing.
import { toError } from '../util/errors.js';
import type { LiveBus } from '../live/bus.js';
import { LlmError, type LlmClient } from '../llm/types.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import { analyzeCall } from './analysis.js';
import type { AnalysisState, Task } from './model.js';
import type { TaskStore } from './store.js';

export interface AnalysisRunnerDeps {
  store: TaskStore;
  bus: LiveBus;
  logger: Logger;
  telemetry: Telemetry;
  /** The LLM, made on first use; may throw LlmError('missing_key'). */
  llm: () => LlmClient;
  /** Whether a media stream of this task is still live (its transcript may still grow). */
  streamLive: (taskId: string) => boolean;
  /**
   * With several members in the fleet, one owns each task's analysis: this sends a trigger there
   * and answers true, or answers false when the owner is this process. Absent: always here.
   */
  forward?: (taskId: string, op: 'due' | 'retry') => boolean;
}

export class AnalysisRunner {
  /** Analyses running in this process; a stored `pending` not in here was left by a restart. */
  private readonly running = new Set<string>();
  private stopped = false;

  constructor(private readonly deps: AnalysisRunnerDeps) {}

  /** Starts the analysis if it is due and was never started (or was left behind by a restart). */
  startIfDue(taskId: string): void {
    if (!this.deps.forward?.(taskId, 'due')) this.startIfDueHere(taskId);
  }

  /** startIfDue in this process, which owns the task's analysis. */
  startIfDueHere(taskId: string): void {
    const task = this.deps.store.get(taskId);
    if (task && this.isDue(task) && (task.analysis === undefined || this.isStale(task))) this.start(task);
  }

  /** Starts it again after a failure; an operator asked for it. */
  retry(task: Task): void {
    if (!this.deps.forward?.(task.id, 'retry')) this.retryHere(task);
  }

  /** retry in this process, which owns the task's analysis. */
  retryHere(task: Task): void {
    if (this.isDue(task) && (task.analysis?.state === 'failed' || task.analysis === undefined || this.isStale(task))) this.start(task);
  }

  isRunning(taskId: string): boolean {
    return this.running.has(taskId);
  }

  /** No new analyses, and those in flight keep their results to themselves (the store is closing). */
  stop(): void {
    this.stopped = true;
  }

  private isDue(task: Task): boolean {
    return !this.stopped && task.status === 'completed' && !this.deps.streamLive(task.id);
  }

  private isStale(task: Task): boolean {
    return task.analysis?.state === 'pending' && !this.running.has(task.id);
  }

  private start(task: Task): void {
    this.running.add(task.id);
    this.deps.store.setAnalysis(task.id, { state: 'pending' });
    void this.run(task).finally(() => this.running.delete(task.id));
  }

  private async run(task: Task): Promise<void> {
    const started = performance.now();
    // The client is made inside complete(), so a missing key fails this analysis, not the caller.
    const llm: LlmClient = { complete: (request) => this.deps.llm().complete(request) };
    let result: Exclude<AnalysisState, { state: 'pending' }>;
    try {
      result = { state: 'ready', analysis: await analyzeCall(llm, task) };
    } catch (err) {
      result = { state: 'failed', error: describeFailure(err) };
    }
    if (this.stopped) return;
    const durationMs = performance.now() - started;
    this.deps.telemetry.record('tasks', 'analysis', { taskId: task.id, durationMs, state: result.state });
    if (result.state === 'failed') this.deps.logger.warn('call analysis failed', { taskId: task.id, error: result.error });
    try {
      this.deps.store.setAnalysis(task.id, result);
      this.deps.bus.publish(task.id, { type: 'analysis', ...result });
    } catch (err) {
      this.deps.logger.error('could not store the call analysis', { taskId: task.id, error: (err as Error).message });
    }
  }
}

/** LlmError messages name the provider and variable, never the key (the adapters redact it). */
function describeFailure(err: unknown): string {
  if (err instanceof LlmError && err.kind === 'missing_key') return `no LLM is configured for analysis: ${err.message}`;
  return toError(err).message;
}
