// Builds the calls domain around its store and the live bus, for the gateway to wire: the hooks
// that record every call, the service behind /api/calls, and the analyses of calls without a task.
import type { Config } from '../config.js';
import type { LiveBus } from '../live/bus.js';
import { createLlmClient, type LlmClient } from '../llm/index.js';
import { analysisStaleAfterMs, ClaimedAnalyses } from '../tasks/analysis-runner.js';
import type { TaskService } from '../tasks/service.js';
import type { TaskStore } from '../tasks/store.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import type { StreamTokens } from '../twilio/stream-token.js';
import type { RecoveryResult } from '../audio/recording-recovery.js';
import { CallRecords } from './call-hooks.js';
import { importEarlierRecordings } from './recordings-import.js';
import { settleDeadCalls } from './restart-settle.js';
import { sweepPendingCalls } from './pending-expiry.js';
import type { Call } from './model.js';
import { CallService } from './service.js';
import type { CallStore } from './store.js';

export interface CallDomainDeps {
  config: Config;
  store: CallStore;
  taskStore: TaskStore;
  taskService: TaskService;
  bus: LiveBus;
  logger: Logger;
  telemetry: Telemetry;
  /** The configured agent's kind. */
  agent: string;
  streamTokens: StreamTokens | undefined;
  /** Injected by tests; by default made from LLM_* on the first analysis. */
  llm?: LlmClient;
  /** This process's id in the fleet. */
  memberId: string;
  /** Told each call a dead process left and this one ended (never through the call hooks). */
  onCallSettled?: (call: Call) => Promise<void>;
}

export interface CallDomain {
  records: CallRecords;
  service: CallService;
  /**
   * Ends the calls left in progress by processes that are gone: `isLiveMember` says which members
   * named on calls are alive; recordings repaired at start are attached.
   */
  settleDeadCalls(isLiveMember: (member: string) => boolean, recovery?: Pick<RecoveryResult, 'repaired' | 'inUse'>): Promise<string[]>;
  /** Makes calls of the recordings made before calls were records (once: later starts find them made). */
  importEarlierRecordings(): Promise<string[]>;
  /** Stops new analyses and the sweep of expired browser calls; the store is closed by its owner. */
  stop(): void;
  /** Resolves once the writes calls queued are done: then the store may close. */
  idle(): Promise<void>;
}

export function createCallDomain(deps: CallDomainDeps): CallDomain {
  const { config, store, bus, logger, telemetry } = deps;
  let llm = deps.llm;
  const analysis = new ClaimedAnalyses<Call>({
    subjects: store,
    publish: (id, message) => bus.publish(id, message),
    logger,
    telemetry,
    llm: () => (llm ??= createLlmClient(config.llm)),
    // Stored as ended once its stream's end is written: the transcript is final then, in any process.
    isDue: (call) => call.status === 'completed' || call.status === 'failed',
    input: (call) => ({
      transcript: call.transcript,
      ...(call.durationMs !== undefined && { durationS: call.durationMs / 1000 }),
      ...(call.endReason !== undefined && { endReason: call.endReason }),
    }),
    idField: 'callId',
    staleAfterMs: analysisStaleAfterMs(config.llm),
  });
  const connectTimeoutMs = config.browserCallConnectTimeoutS * 1000;
  const records = new CallRecords({
    store,
    bus,
    logger,
    agent: deps.agent,
    memberId: deps.memberId,
    connectTimeoutMs,
    taskParties: async (taskId) => {
      const task = await deps.taskStore.get(taskId);
      return task && { from: task.from, to: task.to };
    },
  });
  const service = new CallService({
    store,
    analysis,
    taskAnalysis: deps.taskService,
    streamTokens: deps.streamTokens,
    publicUrl: config.publicUrl,
    recordingsDir: config.recordingsDir,
    agent: deps.agent,
    connectTimeoutMs,
    logger,
  });
  const pendingExpiry = sweepPendingCalls({ store, bus, logger, timeoutMs: connectTimeoutMs });
  return {
    records,
    service,
    settleDeadCalls: (isLiveMember, recovery) => settleDeadCalls({ store, isStreaming: (id) => records.isStreaming(id), logger, onSettled: deps.onCallSettled }, isLiveMember, recovery),
    importEarlierRecordings: () => importEarlierRecordings({ store, taskStore: deps.taskStore, recordingsDir: config.recordingsDir, logger }),
    stop: () => {
      analysis.stop();
      void pendingExpiry.stop();
    },
    idle: async () => {
      await pendingExpiry.stop();
      await records.idle();
    },
  };
}
