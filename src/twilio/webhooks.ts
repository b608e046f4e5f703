// Twilio's HTTP webhooks. Thin: check, parse, call one function, shape the reply.
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Logger } from '../telemetry/logger.js';
import type { Telemetry } from '../telemetry/events.js';
import { requireTwilioSignature, type SignatureSettings } from './signature.js';
import { INBOUND_TOKEN_TTL_MS, type StreamTokens } from './stream-token.js';
import { busyTwiml, connectStreamTwiml, mediaStreamUrl } from './twiml.js';

/** A call-progress callback, as Twilio posts it (§7 of the protocol notes). */
export interface CallStatusUpdate {
  callSid: string;
  /** Absent on an asynchronous answering-machine-detection callback, which carries AnsweredBy only. */
  callStatus: string | undefined;
  sequenceNumber: number | undefined;
  callDuration: number | undefined;
  answeredBy: string | undefined;
  timestamp: string | undefined;
  /** From the callback URL's `?taskId=`: outbound task calls carry it, so a callback that beats
   * our REST call's reply (and its CallSid) still finds its task. Signed with the URL. */
  taskId: string | undefined;
  params: Record<string, string>;
}

export interface WebhookDeps {
  signature: SignatureSettings;
  logger: Logger;
  telemetry: Telemetry;
  isDraining: () => boolean;
  /** True when no further call may start: MAX_CONCURRENT_CALLS streams are open. */
  atCapacity: () => boolean;
  /** Mints each call's stream token; undefined without TWILIO_AUTH_TOKEN (the bare URL is then used). */
  streamTokens: StreamTokens | undefined;
  /** Applies a call-progress callback; the task service plugs in here. */
  onCallStatus?: (update: CallStatusUpdate) => void | Promise<void>;
  /** Hears of each request refused for its signature (counted in /metrics). */
  onSignatureRefused?: () => void;
}

const field = (body: Record<string, unknown>, name: string): string | undefined => {
  const value = body[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

const optionalInt = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  return Number.isInteger(n) ? n : undefined;
};

/** Log fields leave out what the request did not carry (no `callSid=undefined`). */
const withCallSid = (callSid: string | undefined): { callSid?: string } => (callSid ? { callSid } : {});

/** One debug line per Twilio request that passed its signature check: what came in, for whom. */
function logWebhook(logger: Logger) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const fields: Record<string, string> = { path: req.path };
    for (const [name, key] of WEBHOOK_LOG_FIELDS) {
      const value = field(body, name);
      if (value !== undefined) fields[key] = value;
    }
    logger.debug('twilio webhook', fields);
    next();
  };
}

/** Body fields worth a line; phone numbers stay out (the call's own log lines mask them). */
const WEBHOOK_LOG_FIELDS: ReadonlyArray<[string, string]> = [
  ['CallSid', 'callSid'],
  ['CallStatus', 'callStatus'],
  ['SequenceNumber', 'sequence'],
  ['AnsweredBy', 'answeredBy'],
  ['Direction', 'direction'],
];

/** The origin Twilio should stream to: PUBLIC_URL, or for local use without one, the request's own Host. */
function streamOrigin(publicUrl: string | undefined, req: Request): string {
  return publicUrl ?? `https://${req.headers.host ?? 'localhost'}`;
}

export function twilioWebhookRoutes(deps: WebhookDeps): Router {
  const router = Router();
  // Per route rather than router.use: express-ws routes the media-stream upgrade through this
  // prefix too, and that upgrade has its own check before it completes.
  const webhook = [express.urlencoded({ extended: false, limit: '64kb' }), requireTwilioSignature(deps.signature, deps.logger, deps.onSignatureRefused), logWebhook(deps.logger)];

  router.post('/voice', webhook, (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const callSid = field(body, 'CallSid');
    const refusal = deps.isDraining() ? 'draining' : deps.atCapacity() ? 'at_capacity' : undefined;
    if (refusal) {
      deps.logger.warn(refusal === 'draining' ? 'refused a call while draining' : 'refused a call: MAX_CONCURRENT_CALLS streams are open', withCallSid(callSid));
      deps.telemetry.record('twilio', 'call_refused', { callSid, reason: refusal });
      res.type('text/xml').send(busyTwiml());
      return;
    }
    // With signature checks on, only a tokened stream URL is accepted, and its token is bound to the CallSid.
    let token: string | undefined;
    if (deps.streamTokens) {
      if (!callSid) {
        res.status(400).json({ error: 'invalid_request', message: 'CallSid is required' });
        return;
      }
      token = deps.streamTokens.issue({ kind: 'inbound', callSid }, INBOUND_TOKEN_TTL_MS);
    }
    const taskId = typeof req.query.taskId === 'string' ? req.query.taskId : field(body, 'taskId');
    res.type('text/xml');
    const twiml = connectStreamTwiml(mediaStreamUrl(streamOrigin(deps.signature.publicUrl, req), token), {
      taskId,
      from: field(body, 'From'),
      to: field(body, 'To'),
      direction: field(body, 'Direction'),
    });
    deps.telemetry.record('twilio', 'voice_webhook', { callSid, taskId });
    res.send(twiml);
  });

  router.post('/status', webhook, async (req: Request, res: Response, next: NextFunction) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const callSid = field(body, 'CallSid');
    const callStatus = field(body, 'CallStatus');
    const answeredBy = field(body, 'AnsweredBy');
    if (!callSid || (!callStatus && !answeredBy)) {
      res.status(400).json({ error: 'invalid_request', message: 'CallSid and CallStatus (or AnsweredBy, for answering-machine detection) are required' });
      return;
    }
    const params = Object.fromEntries(Object.entries(body).filter((e): e is [string, string] => typeof e[1] === 'string'));
    const update: CallStatusUpdate = {
      callSid,
      callStatus,
      sequenceNumber: optionalInt(field(body, 'SequenceNumber')),
      callDuration: optionalInt(field(body, 'CallDuration')),
      answeredBy,
      timestamp: field(body, 'Timestamp'),
      taskId: typeof req.query.taskId === 'string' && req.query.taskId !== '' ? req.query.taskId : undefined,
      params,
    };
    deps.telemetry.record('twilio', 'status_callback', { callSid, status: callStatus, sequence: update.sequenceNumber });
    try {
      await deps.onCallStatus?.(update);
      res.status(204).end();
    } catch (err) {
      next(err);
    }
  });

  return router;
}
