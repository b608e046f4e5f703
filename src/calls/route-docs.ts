// The calls routes described for the OpenAPI document (GET /openapi.json, src/openapi/api-routes.ts),
// from the contract's own schemas (schemas.ts).
import { z } from 'zod';
import { errorReply } from '../http/schemas.js';
import { named, type RouteDoc } from '../openapi/registry.js';
import { AnalysisPendingSchema, AnalysisReadySchema } from '../tasks/schemas.js';
import { BrowserCallCreated, BrowserCallRequest, CallPage, CallView, ListCallsQuery } from './schemas.js';

const CallSchema = named('Call', CallView);
const CallPageSchema = named('CallPage', CallPage);
const BrowserCallRequestSchema = named('BrowserCallRequest', BrowserCallRequest);
const BrowserCallCreatedSchema = named('BrowserCallCreated', BrowserCallCreated);
const CallIdParams = z.object({ id: z.string().meta({ description: "The call's own id (not Twilio's CallSid)." }) });
const notFound = errorReply('call_not_found');
const TAG = 'calls';

export const callRouteDocs: readonly RouteDoc[] = [
  {
    method: 'get',
    path: '/api/calls',
    tag: TAG,
    guard: 'apiKey',
    summary: 'List calls (inbound, outbound, browser), newest first',
    query: ListCallsQuery,
    responses: { 200: { description: 'A page of calls, without transcripts and events', schema: CallPageSchema }, 400: errorReply('invalid_request naming each bad parameter') },
  },
  {
    method: 'post',
    path: '/api/calls/browser',
    tag: TAG,
    guard: 'apiKey',
    summary: 'Create a call from the browser: the media-stream URL to open and the parameters its start names',
    request: { description: 'Empty, or {}', schema: BrowserCallRequestSchema },
    responses: {
      201: { description: 'The pending browser call', schema: BrowserCallCreatedSchema },
      400: errorReply('invalid_request: the body must be empty or {}'),
    },
  },
  {
    method: 'get',
    path: '/api/calls/{id}',
    tag: TAG,
    guard: 'apiKey',
    summary: 'A call with its transcript and timeline events',
    description: 'Live events of the call stream on `WS /ws/call/{id}` (Bearer or `?token=`): a call_snapshot, then transcript, call_event, call_status, latency, call_ended and analysis messages.',
    pathParams: CallIdParams,
    responses: { 200: { description: 'The call', schema: CallSchema }, 404: notFound },
  },
  {
    method: 'get',
    path: '/api/calls/{id}/audio',
    tag: TAG,
    guard: 'apiKey',
    summary: 'The call recording: stereo 8 kHz 16-bit WAV, left caller, right agent',
    pathParams: CallIdParams,
    headers: { Range: 'A byte range, e.g. bytes=0-1023 (206 in reply)' },
    responses: {
      200: { description: 'The whole WAV', contentType: 'audio/wav' },
      206: { description: 'The requested range of the WAV', contentType: 'audio/wav', headers: { 'Content-Range': 'bytes first-last/size' } },
      404: errorReply('call_not_found or recording_not_found'),
      416: errorReply('range_not_satisfiable'),
    },
  },
  ...(['get', 'post'] as const).map(
    (method): RouteDoc => ({
      method,
      path: '/api/calls/{id}/analysis',
      tag: TAG,
      guard: 'apiKey',
      summary: method === 'get' ? 'The post-call analysis (a task call answers with its task\'s)' : 'Make the analysis again after a failure',
      pathParams: CallIdParams,
      responses: {
        200: { description: 'Ready', schema: AnalysisReadySchema },
        202: { description: 'Being made', schema: AnalysisPendingSchema },
        404: notFound,
        409: errorReply('no_transcript (the agent keeps none, e.g. echo), call_not_ended, or no_conversation (a browser call that never streamed)'),
        502: errorReply('analysis_failed, with the reason'),
      },
    }),
  ),
];
