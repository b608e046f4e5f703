// Twilio REST control of calls: place an outbound call, hang up, cancel, transfer. Errors come
// back as TwilioApiError with Twilio's own code and message, and never with credentials.
import twilio from 'twilio';
import type { MachineDetection } from '../config.js';
import type { TelephonyControl } from '../call/call-types.js';

export interface OutboundCall {
  to: string;
  from: string;
  /** Inline TwiML (at most 4000 characters) that connects the media stream. */
  twiml: string;
  statusCallbackUrl: string;
  machineDetection: MachineDetection;
  ringTimeoutS: number;
}

export interface PlacedCall {
  sid: string;
  status: string;
}

export class TwilioApiError extends Error {
  constructor(
    message: string,
    /** Twilio's error code (e.g. 21211 for an invalid To number), when it gave one. */
    readonly code: number | undefined,
    /** The HTTP status of Twilio's answer, when there was one. */
    readonly status: number | undefined,
  ) {
    super(message);
    this.name = 'TwilioApiError';
  }
}

/** The call-progress events Twilio should report, so a task can follow every step. */
export const STATUS_CALLBACK_EVENTS = ['initiated', 'ringing', 'answered', 'completed'];

/** Twilio's view of a call now. */
export interface CallOutcome {
  /** queued, ringing, in-progress, completed, busy, no-answer, failed or canceled. */
  status: string;
  durationS: number | undefined;
}

export interface TwilioCalls extends TelephonyControl {
  place(call: OutboundCall): Promise<PlacedCall>;
  /** Cancels a call that is still queued or ringing. */
  cancel(callSid: string): Promise<void>;
  /** Reads the call's status (used at start to settle calls a restart left open). */
  fetchCall?(callSid: string): Promise<CallOutcome>;
}

export class TwilioCallControl implements TwilioCalls {
  private readonly client: twilio.Twilio;

  constructor(accountSid: string, authToken: string) {
    this.client = twilio(accountSid, authToken, { autoRetry: true, maxRetries: 2 });
  }

  async place(call: OutboundCall): Promise<PlacedCall> {
    const created = await wrap(() =>
      this.client.calls.create({
        to: call.to,
        from: call.from,
        twiml: call.twiml,
        statusCallback: call.statusCallbackUrl,
        statusCallbackMethod: 'POST',
        statusCallbackEvent: STATUS_CALLBACK_EVENTS,
        timeout: call.ringTimeoutS,
        record: false,
        // Async AMD reports the answer to the status callback instead of holding the TwiML,
        // so the agent's greeting is not delayed by detection.
        ...(call.machineDetection === 'off'
          ? {}
          : { machineDetection: call.machineDetection, asyncAmd: 'true', asyncAmdStatusCallback: call.statusCallbackUrl }),
      }),
    );
    return { sid: created.sid, status: created.status };
  }

  async fetchCall(callSid: string): Promise<CallOutcome> {
    const call = await wrap(() => this.client.calls(callSid).fetch());
    const duration = call.duration === null || call.duration === undefined ? NaN : Number(call.duration);
    return { status: call.status, durationS: Number.isFinite(duration) ? duration : undefined };
  }

  async hangup(callSid: string): Promise<void> {
    await wrap(() => this.client.calls(callSid).update({ status: 'completed' }));
  }

  async cancel(callSid: string): Promise<void> {
    await wrap(() => this.client.calls(callSid).update({ status: 'canceled' }));
  }

  /** Redirects the live call to `to`; its media stream ends as the new TwiML takes over. */
  async transfer(callSid: string, to: string): Promise<void> {
    const response = new twilio.twiml.VoiceResponse();
    response.dial(to);
    await wrap(() => this.client.calls(callSid).update({ twiml: response.toString() }));
  }
}

async function wrap<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (err) {
    const e = err as { message?: string; code?: number; status?: number };
    throw new TwilioApiError(e.message ?? 'Twilio request failed', typeof e.code === 'number' ? e.code : undefined, e.status);
  }
}
