// Runs each call's post-call analysis once: a task's when it is `completed` and its media stream
// has ended, whichever comes last; a call's without a task when its stream has ended. Once means
// once across every process sharing the store: the analysis is claimed in the store (one
// conditional update) before the LLM is asked, and only the claimant runs it.
import { toError } from '../util/errors.js';
import type { AnalysisMessage, LiveBus } from '../live/bus.js';
import { completionDeadlineMs } from '../llm/common.js';
import { DEFAULT_LLM_MAX_RETRIES, DEFAULT_LLM_TIMEOUT_MS, LlmError, type LlmClient, type LlmConfig } from '../llm/types.js';
import type { TaskMeters } from '../metrics/meters.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import { analyzeCall, type AnalysisInput } from './analysis.js';
import type { AnalysisState, Task } from './model.js';
import type { AnalysisClaim, TaskStore } from './store.js';

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

/** What analyses are made of: a task, or a call without one. */
export interface AnalysisSubject {
  id: string;
  analysis?: AnalysisState;
}

/** Where subjects and their analyses are kept (the task store, the call store). */
export interface AnalysisSubjects<T extends AnalysisSubject> {
  get(id: string): Promise<T | undefined>;
  claimAnalysis(id: string, claim: AnalysisClaim): Promise<T | undefined>;
  setAnalysis(id: string, state: AnalysisState): Promise<unknown>;
}

export interface ClaimedAnalysesDeps<T extends AnalysisSubject> {
  subjects: AnalysisSubjects<T>;
  /** Tells live watchers the analysis settled. */
  publish: (id: string, message: AnalysisMessage) => void;
  logger: Logger;
  telemetry: Telemetry;
  /** The LLM, made on first use; may throw LlmError('missing_key'). */
  llm: () => LlmClient;
  /** Whether the subject's call is over, so its transcript is final. */
  isDue: (subject: T) => boolean;
  input: (subject: T) => AnalysisInput;
  /** How logs and telemetry name the subject. */
  idField: 'taskId' | 'callId';
  /** See analysisStaleAfterMs. */
  staleAfterMs: number;
  /** Wall clock for claim times; tests move it. */
  now?: () => Date;
  /** Counts analyses by result (GET /metrics). */
  metrics?: TaskMeters;
}

/** Makes each subject's analysis once across every process sharing the store: claimed there first. */
export class ClaimedAnalyses<T extends AnalysisSubject> {
  /** Analyses running in this process: saves a store round trip for a trigger that is surely not due. */
  private readonly running = new Set<string>();
  private stopped = false;
  private readonly now: () => Date;

  constructor(private readonly core: ClaimedAnalysesDeps<T>) {
    this.now = core.now ?? (() => new Date());
  }

  /**
   * Starts the analysis if it is due and nobody holds it: never started, or left `pending` by a
   * process that died. Resolves once it is claimed (or not), not when it is made.
   */
  async startIfDue(id: string): Promise<void> {
    if (this.running.has(id)) return;
    const subject = await this.core.subjects.get(id);
    if (subject && this.isDue(subject) && subject.analysis?.state !== 'ready' && subject.analysis?.state !== 'failed') await this.claim(subject.id, false);
  }

  /** Starts it again after a failure; an operator asked for it. */
  async retry(subject: T): Promise<void> {
    if (!this.running.has(subject.id) && this.isDue(subject) && subject.analysis?.state !== 'ready') await this.claim(subject.id, true);
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /** No new analyses, and those in flight keep their results to themselves (the store is closing). */
  stop(): void {
    this.stopped = true;
  }

  private isDue(subject: T): boolean {
    return !this.stopped && this.core.isDue(subject);
  }

  private async claim(id: string, retryFailed: boolean): Promise<void> {
    const staleBefore = new Date(this.now().getTime() - this.core.staleAfterMs);
    const claimed = await this.core.subjects.claimAnalysis(id, { staleBefore, retryFailed });
    // Checked again after the await: another trigger in this process may have claimed it first.
    if (!claimed || this.running.has(id) || this.stopped) return;
    this.running.add(id);
    void this.run(claimed).finally(() => this.running.delete(id));
  }

  private async run(subject: T): Promise<void> {
    const started = performance.now();
    const named = { [this.core.idField]: subject.id };
    // The client is made inside complete(), so a missing key fails this analysis, not the caller.
    const llm: LlmClient = { complete: (request) => this.core.llm().complete(request) };
    let result: Exclude<AnalysisState, { state: 'pending' }>;
    try {
      result = { state: 'ready', analysis: await analyzeCall(llm, this.core.input(subject)) };
    } catch (err) {
      result = { state: 'failed', error: describeFailure(err) };
    }
    if (this.stopped) return;
    const durationMs = performance.now() - started;
    this.core.telemetry.record(this.core.idField === 'taskId' ? 'tasks' : 'calls', 'analysis', { ...named, durationMs, state: result.state });
    this.core.metrics?.analysisSettled(result.state);
    if (result.state === 'failed') this.core.logger.warn('call analysis failed', { ...named, error: result.error });
    try {
      await this.core.subjects.setAnalysis(subject.id, result);
      this.core.publish(subject.id, { type: 'analysis', ...result });
    } catch (err) {
      this.core.logger.error('could not store the call analysis', { ...named, error: (err as Error).message });
    }
  }
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

/** A task's analysis: due when the task is `completed` and its media stream has ended. */
export class AnalysisRunner extends ClaimedAnalyses<Task> {
  constructor(deps: AnalysisRunnerDeps) {
    super({
      subjects: deps.store,
      publish: (id, message) => deps.bus.publish(id, message),
      logger: deps.logger,
      telemetry: deps.telemetry,
      llm: deps.llm,
      isDue: (task) => task.status === 'completed' && !deps.streamLive(task.id),
      input: (task) => task,
      idField: 'taskId',
      staleAfterMs: deps.staleAfterMs,
      now: deps.now,
      metrics: deps.metrics,
    });
  }
}

/** LlmError messages name the provider and variable, never the key (the adapters redact it). */
function describeFailure(err: unknown): string {
  if (err instanceof LlmError && err.kind === 'missing_key') return `no LLM is configured for analysis: ${err.message}`;
  return toError(err).message;
}
