// GET /metrics in the Prometheus text format. With METRICS_TOKEN set a scraper must send it as a
// Bearer token (compared in constant time, like API_KEY); unset, the endpoint is open, like
// /health: it holds counts and timings, never ids, numbers or keys.
import { Router, type Request, type Response, type NextFunction } from 'express';
import { bearerToken, keyMatches } from '../http/access.js';
import { sendError } from '../http/errors.js';
import { errorReply } from '../http/schemas.js';
import type { RouteDoc } from '../openapi/registry.js';
import type { Logger } from '../telemetry/logger.js';

export interface MetricsRouteDeps {
  token: string | undefined;
  contentType: string;
  scrape: () => Promise<string>;
  logger: Logger;
}

export function metricsRoutes(deps: MetricsRouteDeps): Router {
  const router = Router();
  router.get('/metrics', (req: Request, res: Response, next: NextFunction) => {
    if (deps.token !== undefined && !keyMatches(deps.token, bearerToken(req.headers.authorization))) {
      return sendError(res, deps.logger, 401, { error: 'unauthorized', message: 'this endpoint needs METRICS_TOKEN: send Authorization: Bearer <METRICS_TOKEN>' }, { 'WWW-Authenticate': 'Bearer' });
    }
    deps.scrape().then((text) => void res.type(deps.contentType).send(text), next);
  });
  return router;
}

export const metricsRouteDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    guard: 'metricsToken',
    summary: 'Prometheus metrics (text format 0.0.4): gateway_* and the process defaults',
    description: 'With WORKERS > 1 every scrape reports every worker of this instance combined.',
    responses: { 200: { description: 'The exposition', contentType: 'text/plain; version=0.0.4' }, 401: errorReply('unauthorized: METRICS_TOKEN is set and was not sent') },
  },
];
