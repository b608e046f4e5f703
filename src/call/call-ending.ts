// The end of a call that we choose: the agent hangs up, transfers, or fails. The caller first hears
// the agent's last words (Playback confirms them by mark echo, within a bound), then Twilio is
// told through its REST API. Once we have chosen how the call ends, that reason stays: Twilio's
// `stop` or the socket closing, which our own hang-up or redirect causes, does not replace it.
import type { AgentAction } from '../agents/bridge.js';
import type { Logger } from '../telemetry/logger.js';
import { maskPhone } from '../telemetry/redact.js';
import type { Telemetry } from '../telemetry/events.js';
import type { PlayoutResult } from './playback.js';
import type { CallSummary, EndReason, TelephonyControl } from './call-types.js';

/** Reasons a call ends on our side, which Twilio's reaction to them must not overwrite. */
export type OwnEndReason = Extract<EndReason, 'agent_hangup' | 'agent_error' | 'transferred'>;

/** Reasons that only echo an ending: Twilio's reaction to our hang-up or redirect. */
const ECHOES_OF_OUR_END: ReadonlySet<EndReason> = new Set<EndReason>(['twilio_stop', 'socket_closed']);

/** What CallEnding needs from its call. */
export interface EndingCall {
  isLive(): boolean;
  callSid(): string;
  ids(): Record<string, string | undefined>;
  /** Resolves once the caller heard everything sent so far (or it was cleared, or the call stopped). */
  waitForPlayout(): Promise<PlayoutResult>;
  end(reason: EndReason, detail?: string): Promise<CallSummary>;
}

export interface CallEndingOptions {
  telephony: TelephonyControl | undefined;
  log: Logger;
  telemetry: Telemetry;
  /** The longest wait for the agent's last words to play before hanging up or transferring anyway. */
  playoutTimeoutMs: number;
}

export const DEFAULT_PLAYOUT_TIMEOUT_MS = 10_000;

export class CallEnding {
  /** The ending we chose and told Twilio about; kept whatever Twilio does next. */
  private chosen: { reason: OwnEndReason; detail: string } | undefined;
  /** A hang-up or transfer is under way: a second one is ignored. */
  private busy = false;
  /** A fatal agent error that arrived while a transfer was under way: it ends the call if the transfer fails. */
  private deferredError: string | undefined;

  constructor(
    private readonly call: EndingCall,
    private readonly options: CallEndingOptions,
  ) {}

  /** The reason to record when the call ends for `reason`: ours, if Twilio only echoes our ending. */
  reasonFor(reason: EndReason, detail: string | undefined): { reason: EndReason; detail: string | undefined } {
    if (this.chosen && ECHOES_OF_OUR_END.has(reason)) return this.chosen;
    return { reason, detail };
  }

  /** The agent asked to hang up or transfer: it happens once its last words have been heard. */
  async onAction(action: AgentAction): Promise<void> {
    if (!this.call.isLive()) return;
    const { log, telemetry } = this.options;
    log.info('agent action', { ...this.call.ids(), action: action.type, reason: action.reason });
    telemetry.record('agent', action.type, { ...this.call.ids(), reason: action.reason });
    if (action.type === 'hangup') return this.finishAfterPlayback('agent_hangup', action.reason);
    return this.transferAfterPlayback(action.to);
  }

  /**
   * Lets the agent's last words (a goodbye, an apology) play out, then hangs up through Twilio,
   * or just closes the stream without credentials (nothing follows <Connect>, so Twilio hangs up).
   */
  async finishAfterPlayback(reason: 'agent_hangup' | 'agent_error', detail: string): Promise<void> {
    if (this.busy) {
      if (reason === 'agent_error') this.deferredError ??= detail;
      return;
    }
    this.busy = true;
    await this.playedOut();
    if (!this.call.isLive()) return;
    const telephony = this.options.telephony;
    this.chosen = { reason, detail };
    if (telephony) {
      try {
        await telephony.hangup(this.call.callSid());
      } catch (err) {
        this.options.log.error('hang-up through Twilio failed; closing the stream', { ...this.call.ids(), error: (err as Error).message });
      }
    }
    void this.call.end(reason, detail);
  }

  /** Redirects the call once the agent's last words have been heard; on failure the call goes on. */
  private async transferAfterPlayback(to: string): Promise<void> {
    const { telephony, log } = this.options;
    if (!telephony) {
      log.warn('transfer requested but Twilio credentials are not configured', this.call.ids());
      return;
    }
    if (this.busy) return;
    this.busy = true;
    await this.playedOut();
    if (!this.call.isLive()) return;
    // The summary and the task's end reason are logged: the number shows its last digits only.
    const detail = `to ${maskPhone(to)}`;
    this.chosen = { reason: 'transferred', detail };
    try {
      await telephony.transfer(this.call.callSid(), to);
    } catch (err) {
      this.chosen = undefined;
      this.busy = false;
      log.error('transfer failed', { ...this.call.ids(), error: (err as Error).message });
      // The agent failed while we waited: with no transfer either, the call cannot go on.
      const deferred = this.deferredError;
      if (deferred !== undefined) return this.finishAfterPlayback('agent_error', deferred);
      return;
    }
    void this.call.end('transferred', detail);
  }

  /** Waits for the caller to hear what was sent, at most `playoutTimeoutMs`. */
  private async playedOut(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.options.playoutTimeoutMs);
      timer.unref();
    });
    const result = await Promise.race([this.call.waitForPlayout(), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      this.options.log.warn('the agent\'s last words did not finish playing in time; ending anyway', {
        ...this.call.ids(),
        timeoutMs: this.options.playoutTimeoutMs,
      });
    }
  }
}
