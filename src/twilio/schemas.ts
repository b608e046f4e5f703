// Twilio's webhooks as the OpenAPI document shows them: form bodies (the fields the gateway
// reads; Twilio sends more, all covered by its signature) and the routes' descriptions. The media
// stream itself is a WebSocket and is described in words on the voice webhook.
import { z } from 'zod';
import { errorReply } from '../http/schemas.js';
import { named, type RouteDoc } from '../openapi/registry.js';

const FORM = 'application/x-www-form-urlencoded';
const TaskQuery = z.object({ taskId: z.string().optional().meta({ description: 'The task an outbound call belongs to (part of the signed URL).' }) });

export const VoiceWebhookSchema = named(
  'TwilioVoiceWebhook',
  z
    .object({
      CallSid: z.string().optional().meta({ description: 'Required when signature checks are on: the stream token is bound to it.' }),
      From: z.string().optional(),
      To: z.string().optional(),
      Direction: z.string().optional(),
      taskId: z.string().optional(),
    })
    .catchall(z.string())
    .meta({ description: "Twilio's voice webhook parameters." }),
);

export const StatusCallbackSchema = named(
  'TwilioStatusCallback',
  z
    .object({
      CallSid: z.string(),
      CallStatus: z.string().optional().meta({ description: 'queued, initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled; absent on an AMD-only callback.' }),
      SequenceNumber: z.string().regex(/^\d+$/).optional(),
      CallDuration: z.string().regex(/^\d+$/).optional(),
      AnsweredBy: z.string().optional(),
      Timestamp: z.string().optional(),
    })
    .catchall(z.string())
    .meta({ description: "Twilio's call-progress callback parameters." }),
);

const refusedSignature = errorReply('invalid_signature: X-Twilio-Signature is missing or wrong (only when TWILIO_AUTH_TOKEN is set)');

export const twilioRouteDocs: RouteDoc[] = [
  {
    method: 'post',
    path: '/twilio/voice',
    tag: 'twilio',
    guard: 'twilioSignature',
    summary: 'Voice webhook: TwiML that connects the call to the media stream',
    description:
      "Answers `<Connect><Stream url=\"wss://…/twilio/media-stream/{token}\">` with the call's context as `<Parameter>`s, or a busy `<Reject>` while draining or at MAX_CONCURRENT_CALLS. " +
      'The media stream is `WS /twilio/media-stream/{token}` (bare `/twilio/media-stream` without TWILIO_AUTH_TOKEN): Twilio\'s media-stream protocol, 20 ms 8 kHz mu-law frames both ways, the upgrade signature-checked.',
    query: TaskQuery,
    request: { description: 'Form fields', schema: VoiceWebhookSchema, contentType: FORM },
    responses: { 200: { description: 'TwiML', contentType: 'text/xml' }, 400: errorReply('invalid_request: CallSid is required'), 403: refusedSignature },
  },
  {
    method: 'post',
    path: '/twilio/status',
    tag: 'twilio',
    guard: 'twilioSignature',
    summary: 'Call-progress callback; applied in SequenceNumber order',
    query: TaskQuery,
    request: { description: 'Form fields', schema: StatusCallbackSchema, contentType: FORM },
    responses: { 204: { description: 'Taken (applied, held for order, or ignored as a duplicate)' }, 400: errorReply('invalid_request: CallSid and CallStatus (or AnsweredBy) are required'), 403: refusedSignature },
  },
];
