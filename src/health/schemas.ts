// /health bodies as zod schemas, and the routes' descriptions. The replies are built only in
// routes.ts, so their types come from these schemas (z.infer).
import { z } from 'zod';
import { named, type RouteDoc } from '../openapi/registry.js';

export const HealthSchema = named(
  'Health',
  z.object({
    status: z.enum(['ok', 'draining']),
    version: z.string(),
    uptime_s: z.number(),
    agent: z.string().meta({ description: 'The agent that answers calls: echo, deepgram, livekit.' }),
    workers: z.number().int().meta({ description: 'Worker processes whose figures are in this answer.' }),
    active_calls: z.number().int().meta({ description: 'Streams that sent start, over every worker.' }),
    pending_streams: z.number().int().meta({ description: 'Sockets open without start yet.' }),
    max_concurrent_calls: z.number().int(),
  }),
);
export type HealthBody = z.infer<typeof HealthSchema>;

export const LivenessSchema = named(
  'Liveness',
  z.object({ status: z.enum(['ok', 'draining']), worker: z.string().meta({ description: 'This worker (X-Gateway-Worker).' }), active_calls: z.number().int() }),
);
export type LivenessBody = z.infer<typeof LivenessSchema>;

export const ReadinessSchema = named('Readiness', z.object({ status: z.enum(['ready', 'starting', 'draining']) }));
export type ReadinessBody = z.infer<typeof ReadinessSchema>;

export const healthRouteDocs: RouteDoc[] = [
  { method: 'get', path: '/health', tag: 'health', summary: "The gateway's status and call figures (summed over every worker)", responses: { 200: { description: 'Serving', schema: HealthSchema } } },
  {
    method: 'get',
    path: '/health/live',
    tag: 'health',
    summary: 'Liveness: 200 while this process serves, draining included',
    responses: { 200: { description: 'Alive', schema: LivenessSchema } },
  },
  {
    method: 'get',
    path: '/health/ready',
    tag: 'health',
    summary: "Readiness for new calls: the load balancer's check",
    responses: { 200: { description: 'ready', schema: ReadinessSchema }, 503: { description: 'starting or draining', schema: ReadinessSchema } },
  },
];
