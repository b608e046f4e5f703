// GET /openapi.json: the document, built once on first request from every domain's routes. Open
// like /health: it describes the API, it holds no data of the API's.
import { Router } from 'express';
import type { RouteDoc } from './registry.js';

export function openApiRoutes(document: () => Record<string, unknown>): Router {
  const router = Router();
  let built: Record<string, unknown> | undefined;
  router.get('/openapi.json', (_req, res) => {
    built ??= document();
    res.json(built);
  });
  return router;
}

export const openApiRouteDocs: RouteDoc[] = [
  {
    method: 'get',
    path: '/openapi.json',
    tag: 'operations',
    summary: 'This document: OpenAPI 3.1',
    responses: { 200: { description: 'The OpenAPI document', contentType: 'application/json' } },
  },
];
