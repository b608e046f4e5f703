// Health for people and for load balancers:
//   GET /health        the fleet's figures (calls summed over every worker) and this worker's status;
//   GET /health/live   200 while this process serves at all, draining included (do not restart it),
//                      with this worker's id and its own calls;
//   GET /health/ready  200 only when it should get new calls: 503 before it has listened and settled
//                      what the last run left, and while it drains, so a load balancer moves new
//                      calls elsewhere before streams would be refused.
import { Router, type RequestHandler } from 'express';
import { sendError } from '../http/errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { FleetHealth } from '../fleet/figures.js';
import type { HealthBody, LivenessBody, ReadinessBody } from './schemas.js';

export interface Readiness {
  isDraining(): boolean;
  /** Listening, and done with what runs at start. */
  isStarted(): boolean;
}

export interface HealthRouteOptions {
  readiness: Readiness;
  version: string;
  agent: string;
  /** This worker (X-Gateway-Worker). */
  memberId: string;
  /** Calls in this worker alone. */
  ownCalls: () => number;
  /** Calls and streams over every worker of the fleet. */
  figures: () => Promise<FleetHealth>;
}

export function healthRoutes(options: HealthRouteOptions): Router {
  const { readiness } = options;
  const router = Router();
  router.get('/health', async (_req, res) => {
    const { uptime_s, workers, ...streams } = await options.figures();
    res.json({ status: readiness.isDraining() ? 'draining' : 'ok', version: options.version, uptime_s, agent: options.agent, workers, ...streams } satisfies HealthBody);
  });
  router.get('/health/live', (_req, res) => {
    res.json({ status: readiness.isDraining() ? 'draining' : 'ok', worker: options.memberId, active_calls: options.ownCalls() } satisfies LivenessBody);
  });
  router.get('/health/ready', (_req, res) => {
    const status = readiness.isDraining() ? 'draining' : readiness.isStarted() ? 'ready' : 'starting';
    res.status(status === 'ready' ? 200 : 503).json({ status } satisfies ReadinessBody);
  });
  return router;
}

/** Placing a call while draining would start one this process is about to cut: 503, say why. */
export function refuseWhileDraining(readiness: Readiness, logger: Logger): RequestHandler {
  return (_req, res, next) => {
    if (!readiness.isDraining()) return next();
    sendError(res, logger, 503, { error: 'draining', message: 'this gateway is shutting down and places no new calls; try another instance' });
  };
}
