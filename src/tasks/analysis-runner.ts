// Runs each call's post-call analysis once: when the task is `completed` and its media stream has
// ended, whichever comes last. Once means once across every process sharing the store: the
// analysis is claimed in the store (one conditional update) before the LLM is asked, and only the
// claimant runs it.
import { toError } from '../util/errors.js';
import type { LiveBus } from '../live/bus.js';
import { completionDeadlineMs } from '../llm/common.js';
import { DEFAULT_LLM_MAX_RETRIES, DEFAULT_LLM_TIMEOUT_MS, LlmError, type LlmClient, type LlmConfig } from '../llm/types.js';
import type { TaskMeters } from '../metrics/meters.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import { analyzeCall } from './analysis.js';
import type { AnalysisState, Task } from './model.js';
import type { TaskStore } from './store.js';

/**
 * How long a claimed analysis stays `pending` before another process may take it over (its maker
 * is presumed dead). An analysis is one LLM completion, which callSdk abandons after every
 * attempt has timed out with its back-off: (LLM retries + 1) × (LLM_TIMEOUT_S + 1 s), 93 s by
 * default. Twice that leaves room for a loaded machine and clocks a little apart between
 * machines, so a live analysis is never made twice; a dead one waits at most that long (186 s by
 * default) for the next trigger to take it over.
 */
export function analysisStaleAfterMs(llm: Pick<LlmConfig, 'timeoutMs' | 'maxRetries'>): number {
  return 2 * completionDeadlineMs({ timeoutMs: llm.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS, maxRetries: llm.maxRetries ?? DEFAULT_LLM_MAX_RETRIES });
}

export interface AnalysisRunnerDeps {
  store: TaskStore;
  bus: LiveBus;
  logger: Logger;
  telemetry: Telemetry;
  /** The LLM, made on first use; may throw LlmError('missing_key'). */
  llm: () => LlmClient;
  /** Whether a media stream of this task is still live (its transcript may still grow). */
  streamLive: (taskId: string) => boolean;
  /** See analysisStaleAfterMs. */
  staleAfterMs: number;
  /** Wall clock for claim times; tests move it. */
  now?: () => Date;
  metrics?: TaskMeters;
}

export class AnalysisRunner {
  /** Analyses running in this process: saves a store round trip for a trigger that is surely not due. */
  private readonly running = new Set<string>();
  private stopped = false;
  private readonly now: () => Date;

  constructor(private readonly deps: AnalysisRunnerDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  /**
   * Starts the analysis if it is due and nobody holds it: never started, or left `pending` by a
   * process that died. Resolves once it is claimed (or not), not when it is made.
   */
  async startIfDue(taskId: string): Promise<void> {
    if (this.running.has(taskId)) return;
    const task = await this.deps.store.get(taskId);
    if (task && this.isDue(task) && task.analysis?.state !== 'ready' && task.analysis?.state !== 'failed') await this.claim(task.id, false);
  }

  /** Starts it again after a failure; an operator asked for it. */
  async retry(task: Task): Promise<void> {
    if (!this.running.has(task.id) && this.isDue(task) && task.analysis?.state !== 'ready') await this.claim(task.id, true);
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

  private async claim(taskId: string, retryFailed: boolean): Promise<void> {
    const staleBefore = new Date(this.now().getTime() - this.deps.staleAfterMs);
    const claimed = await this.deps.store.claimAnalysis(taskId, { staleBefore, retryFailed });
    // Checked again after the await: another trigger in this process may have claimed it first.
    if (!claimed || this.running.has(taskId) || this.stopped) return;
    this.running.add(taskId);
    void this.run(claimed).finally(() => this.running.delete(taskId));
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
    this.deps.metrics?.analysisSettled(result.state);
    if (result.state === 'failed') this.deps.logger.warn('call analysis failed', { taskId: task.id, error: result.error });
    try {
      await this.deps.store.setAnalysis(task.id, result);
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
