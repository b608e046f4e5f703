// Every HTTP route the gateway serves, by domain: what GET /openapi.json describes. A domain that
// adds routes adds its descriptions here; test/integration/openapi-routes.test.ts fails when the
// app and this list disagree.
import { callRouteDocs } from '../calls/route-docs.js';
import { consoleRouteDocs } from '../console/server.js';
import { healthRouteDocs } from '../health/schemas.js';
import { metricsRouteDocs } from '../metrics/routes.js';
import { roomRouteDocs } from '../rooms/route-docs.js';
import { taskRouteDocs } from '../tasks/schemas.js';
import { telemetryRouteDocs } from '../telemetry/schemas.js';
import { twilioRouteDocs } from '../twilio/schemas.js';
import type { RouteDoc } from './registry.js';
import { openApiRouteDocs } from './routes.js';

export const API_ROUTES: readonly RouteDoc[] = [
  ...healthRouteDocs,
  ...twilioRouteDocs,
  ...taskRouteDocs,
  ...callRouteDocs,
  ...roomRouteDocs,
  ...telemetryRouteDocs,
  ...metricsRouteDocs,
  ...openApiRouteDocs,
  ...consoleRouteDocs,
];
