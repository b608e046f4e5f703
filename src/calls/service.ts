// The calls API's logic: read and list call records, find a call's recording, its analysis (a
// task call's is its task's), and create a browser call with the URL its stream opens.
import { randomUUID } from 'node:crypto';
import { recordingInside } from '../http/recording.js';
import type { ClaimedAnalyses } from '../tasks/analysis-runner.js';
import { TaskError } from '../tasks/errors.js';
import type { AnalysisState } from '../tasks/model.js';
import type { Logger } from '../telemetry/logger.js';
import type { StreamTokens } from '../twilio/stream-token.js';
import { mediaStreamUrl } from '../twilio/twiml.js';
import { CallError, callNotFound } from './errors.js';
import { transcriptNoteFor, type Call } from './model.js';
import type { BrowserCallCreated, CallPage } from './schemas.js';
import type { CallListOptions, CallStore } from './store.js';
import { callSummaryView } from './view.js';

export interface CallServiceDeps {
  store: CallStore;
  analysis: ClaimedAnalyses<Call>;
  /** A task call's analysis is its task's. */
  taskAnalysis: { analysisOf(taskId: string): Promise<AnalysisState>; retryAnalysis(taskId: string): Promise<AnalysisState> };
  /** Mints browser calls' stream tokens; undefined without TWILIO_AUTH_TOKEN (the bare stream URL is open). */
  streamTokens: StreamTokens | undefined;
  publicUrl: string | undefined;
  recordingsDir: string;
  agent: string;
  /** How long a browser call waits for its stream; its stream token lives as long. */
  connectTimeoutMs: number;
  logger: Logger;
}

export class CallService {
  constructor(private readonly deps: CallServiceDeps) {}

  async get(id: string): Promise<Call> {
    const call = await this.deps.store.get(id);
    if (!call) throw callNotFound(id);
    return call;
  }

  async list(options: CallListOptions): Promise<CallPage> {
    const page = await this.deps.store.list(options);
    return { calls: page.calls.map(callSummaryView), ...(page.nextCursor !== undefined && { nextCursor: page.nextCursor }) };
  }

  async recordingFile(id: string): Promise<string> {
    const stored = (await this.get(id)).recordingPath;
    if (stored === undefined) throw new CallError('recording_not_found', 'the call has no recording yet');
    const file = await recordingInside(this.deps.recordingsDir, stored);
    if (file === undefined) {
      this.deps.logger.warn('a call recording is missing or outside the recordings folder', { callId: id });
      throw new CallError('recording_not_found', 'the recording is not available');
    }
    return file;
  }

  /** As it stands; one that is due and not running starts with this read, made once either way. */
  async analysisOf(id: string): Promise<AnalysisState> {
    const call = await this.analyzable(id);
    if (call.taskId !== undefined) return this.ofTask(() => this.deps.taskAnalysis.analysisOf(call.taskId!));
    await this.deps.analysis.startIfDue(id);
    return (await this.get(id)).analysis ?? { state: 'pending' };
  }

  /** Makes it again after a failure; a ready or running one is returned as it is. */
  async retryAnalysis(id: string): Promise<AnalysisState> {
    const call = await this.analyzable(id);
    if (call.taskId !== undefined) return this.ofTask(() => this.deps.taskAnalysis.retryAnalysis(call.taskId!));
    await this.deps.analysis.retry(call);
    return (await this.get(id)).analysis ?? { state: 'pending' };
  }

  /**
   * A pending browser call and the URL its stream opens. With signature checks on, the URL carries
   * a single-use token bound to this call; either way the stream must name the call in
   * customParameters.callId, and only a pending call can be taken over.
   */
  async createBrowserCall(requestOrigin: string): Promise<BrowserCallCreated> {
    const id = randomUUID();
    const transcriptNote = transcriptNoteFor(this.deps.agent);
    await this.deps.store.create({ id, direction: 'browser', agent: this.deps.agent, ...(transcriptNote !== undefined && { transcriptNote }) });
    const token = this.deps.streamTokens?.issue({ kind: 'browser', callId: id }, this.deps.connectTimeoutMs);
    this.deps.logger.info('browser call created', { callId: id });
    return {
      callId: id,
      streamUrl: mediaStreamUrl(this.deps.publicUrl ?? requestOrigin, token),
      customParameters: { callId: id },
      ...(token !== undefined && { expiresAt: new Date(Date.now() + this.deps.connectTimeoutMs).toISOString() }),
    };
  }

  private async analyzable(id: string): Promise<Call> {
    const call = await this.get(id);
    if (call.transcriptNote !== undefined) throw new CallError('no_transcript', `${call.transcriptNote} There is nothing to analyze.`);
    if (call.status === 'in-progress') throw new CallError('call_not_ended', 'the call has not ended yet');
    // Pending, or failed as never_connected: no stream ever started, so there is no conversation for an LLM to read.
    if (call.status === 'pending' || call.startedAt === undefined) throw new CallError('no_conversation', 'the browser call never streamed: there is nothing to analyze');
    return call;
  }

  /** The task's refusals, said of the call. */
  private async ofTask(read: () => Promise<AnalysisState>): Promise<AnalysisState> {
    try {
      return await read();
    } catch (err) {
      if (err instanceof TaskError && (err.code === 'call_not_ended' || err.code === 'no_conversation')) throw new CallError(err.code, err.message);
      throw err;
    }
  }
}
