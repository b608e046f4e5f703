// /api/telemetry bodies as zod schemas for the OpenAPI document, and the routes' descriptions.
// TelemetryEvent and SummaryRow stay the code's types, tied to their schemas both ways; the
// summary reply, built only in routes.ts, takes its type from its schema.
import { z } from 'zod';
import { errorReply } from '../http/schemas.js';
import { named, type RouteDoc, type SameShape } from '../openapi/registry.js';
import { RECENT_MAX_LIMIT, type SummaryRow, type TelemetryEvent } from './events.js';

const ms = (what: string) => z.number().nullable().meta({ description: `${what}, ms (null before the first duration).` });

export const TelemetryEventSchema = named(
  'TelemetryEvent',
  z
    .object({
      ts: z.string().meta({ description: 'When it was recorded (ISO 8601).' }),
      component: z.string(),
      action: z.string(),
      duration_ms: z.number().optional(),
      call_sid: z.string().optional(),
      stream_sid: z.string().optional(),
      task_id: z.string().optional(),
    })
    .catchall(z.unknown())
    .meta({ description: 'One timing event; more fields by component and action.' }),
);

const summaryRowFields = {
  component: z.string(),
  action: z.string(),
  count: z.number().int(),
  avg_ms: ms('Mean'),
  min_ms: ms('Smallest'),
  max_ms: ms('Largest'),
  p50_ms: ms('Median of the last 4096'),
  p90_ms: ms('p90 of the last 4096'),
  p95_ms: ms('p95 of the last 4096'),
  p99_ms: ms('p99 of the last 4096'),
};
const SummaryRowSchema = z.object(summaryRowFields);

export const TelemetrySummarySchema = named(
  'TelemetrySummary',
  z.object({
    window: z.object({ since: z.string(), until: z.string(), note: z.string() }),
    sampling: z.object({ every_n: z.number().int(), actions: z.array(z.string()), note: z.string() }),
    rows: z.array(
      z.object({ ...summaryRowFields, sampled_every: z.number().int().optional().meta({ description: 'This action counts one event in this many.' }) }),
    ),
  }),
);
export type TelemetrySummaryBody = z.infer<typeof TelemetrySummarySchema>;

export const RecentEventsSchema = named('RecentEvents', z.object({ events: z.array(TelemetryEventSchema).meta({ description: 'Newest first.' }) }));
export type RecentEventsBody = z.infer<typeof RecentEventsSchema>;

true satisfies SameShape<z.infer<typeof TelemetryEventSchema>, TelemetryEvent>;
true satisfies SameShape<z.infer<typeof SummaryRowSchema>, SummaryRow>;

export const telemetryRouteDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/api/telemetry/recent',
    tag: 'telemetry',
    guard: 'apiKey',
    summary: 'The newest timing events, of every worker',
    query: z.object({
      limit: z.number().int().min(1).max(RECENT_MAX_LIMIT).optional().meta({ description: 'Default 100.' }),
      component: z.string().optional(),
      action: z.string().optional(),
    }),
    responses: { 200: { description: 'Events, newest first', schema: RecentEventsSchema }, 400: errorReply('invalid_request naming each bad parameter') },
  },
  {
    method: 'get',
    path: '/api/telemetry/summary',
    tag: 'telemetry',
    guard: 'apiKey',
    summary: 'Count and duration percentiles per component and action',
    responses: { 200: { description: 'The summary and what it covers', schema: TelemetrySummarySchema } },
  },
];
