// Builds the task domain's services around one store and one live bus, for the gateway to wire.
import type { Config } from '../config.js';
import type { LiveBus } from '../live/bus.js';
import { createLlmClient, type LlmClient } from '../llm/index.js';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import type { TwilioCalls } from '../twilio/call-control.js';
import type { StreamTokens } from '../twilio/stream-token.js';
import { AnalysisRunner, analysisStaleAfterMs } from './analysis-runner.js';
import { LiveStreams, TaskCallHooks } from './call-hooks.js';
import { SIMULATED_CALLER_ID } from './model.js';
import { TaskService, type EndLiveCall } from './service.js';
import { StatusCallbacks } from './status-callbacks.js';
import { lostMembers, settleLostMembers, type FleetSettleReport } from './fleet-settle.js';
import { settleLastRun, type SettleReport } from './restart-settle.js';
import type { RecoveryResult } from '../audio/recording-recovery.js';
import type { TaskStore } from './store.js';
import { TaskTransitions } from './transitions.js';
import type { TaskMeters } from '../metrics/meters.js';

export interface TaskDomainDeps {
  config: Config;
  store: TaskStore;
  bus: LiveBus;
  logger: Logger;
  telemetry: Telemetry;
  telephony: TwilioCalls | undefined;
  endLiveCall: EndLiveCall;
  /** Injected by tests; by default made from LLM_* on the first analysis. */
  llm?: LlmClient;
  /** How long an early status callback waits for the ones before it. */
  callbackHoldMs?: number;
  /** Mints outbound calls' stream tokens; undefined without TWILIO_AUTH_TOKEN. */
  streamTokens: StreamTokens | undefined;
  /** The fleet this process is a member of: the task streams live in other members, who is alive. */
  fleet: TaskFleet;
  metrics?: TaskMeters;
}

export interface TaskFleet {
  readonly memberId: string;
  /** The members alive now, this one included. */
  members(): readonly string[];
  streamLiveElsewhere(taskId: string): boolean;
}

export interface TaskDomain {
  service: TaskService;
  callHooks: TaskCallHooks;
  statusCallbacks: StatusCallbacks;
  /** At start: attaches repaired recordings and closes the tasks whose stream died with the last run. */
  settleLastRun(recovery: RecoveryResult): Promise<SettleReport>;
  /**
   * Takes over the tasks whose stream member is gone from the fleet (at most one survivor gets
   * each), repairs their recordings, settles them. `starting`: this member's own id in a task is an
   * earlier process's.
   */
  settleLostMembers(starting: boolean): Promise<FleetSettleReport>;
  /** Stops new analyses and pending timers; the store is closed by its owner. */
  stop(): void;
  /** Resolves once the store writes queued by calls and status callbacks are done: then the store may close. */
  idle(): Promise<void>;
}

export function createTaskDomain(deps: TaskDomainDeps): TaskDomain {
  const { config, store, bus, logger, telemetry, telephony } = deps;
  const transitions = new TaskTransitions(store, bus, logger, deps.metrics);
  let llm = deps.llm;
  // Made once on first use; a missing key throws each time (and fails that analysis) until set.
  const lazyLlm = (): LlmClient => (llm ??= createLlmClient(config.llm));
  const streams = new LiveStreams();
  const { fleet } = deps;
  const analysis = new AnalysisRunner({
    store,
    bus,
    logger,
    telemetry,
    llm: lazyLlm,
    // Made once across processes by the store's claim; it waits for the stream's end wherever it runs.
    streamLive: (taskId) => streams.has(taskId) || fleet.streamLiveElsewhere(taskId),
    staleAfterMs: analysisStaleAfterMs(config.llm),
    metrics: deps.metrics,
  });
  const callHooks = new TaskCallHooks({ store, transitions, bus, analysis, streams, logger, streamEndsTask: telephony === undefined, memberId: fleet.memberId });
  const statusCallbacks = new StatusCallbacks({ store, transitions, analysis, logger, holdMs: deps.callbackHoldMs });
  const service = new TaskService({
    store,
    transitions,
    analysis,
    telephony,
    // The stop's answer shows the call's end as stored (status, recording), not as queued.
    endLiveCall: async (taskId, detail) => {
      const ended = await deps.endLiveCall(taskId, detail);
      await callHooks.settled(taskId);
      return ended;
    },
    settings: {
      publicUrl: config.publicUrl,
      defaultFrom: config.twilio.phoneNumber ?? (telephony === undefined ? SIMULATED_CALLER_ID : undefined),
      machineDetection: config.twilio.machineDetection,
      ringTimeoutS: config.twilio.ringTimeoutS,
      recordingsDir: config.recordingsDir,
      streamTokens: deps.streamTokens,
    },
    logger,
    telemetry,
  });
  return {
    service,
    callHooks,
    statusCallbacks,
    settleLastRun: (recovery) => {
      // The member's own id is an earlier process's at start: only a member other than this one counts as live.
      const isLiveMember = (member: string): boolean => member !== fleet.memberId && fleet.members().includes(member);
      return settleLastRun({ store, transitions, analysis, telephony, streams, logger, isLiveMember }, recovery);
    },
    settleLostMembers: (starting) => {
      const lost = lostMembers(fleet.members(), fleet.memberId, streams, starting);
      const deps = { store, transitions, analysis, telephony, streams, logger, recordingsDir: config.recordingsDir, memberId: fleet.memberId };
      return settleLostMembers(deps, lost);
    },
    stop() {
      analysis.stop();
      statusCallbacks.close();
    },
    async idle() {
      await Promise.all([callHooks.idle(), statusCallbacks.idle()]);
    },
  };
}
