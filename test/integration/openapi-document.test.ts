// GET /openapi.json: a valid OpenAPI 3.1 document (checked by a standard validator) that names
// every HTTP route the app really serves, and no route it does not.
import { expect } from 'chai';
import { z } from 'zod';
import { Validator } from '@seriousme/openapi-schema-validator';
import { buildOpenApiDocument } from '../../src/openapi/document.js';
import { apiSchemas, named, type RouteDoc } from '../../src/openapi/registry.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { appRoutes, documentRoutes } from '../helpers/openapi.js';

describe('GET /openapi.json', function () {
  this.timeout(20_000);
  let t: TestGateway;
  let doc: any;

  before(async () => {
    // Signature checks on: the tokened media-stream route exists as it does in production; LiveKit
    // configured: the rooms routes exist (without it one 503 answers for all of them).
    t = await startTestGateway({
      API_KEY: 'k',
      TWILIO_AUTH_TOKEN: 'tok',
      PUBLIC_URL: 'https://gw.example.com',
      LIVEKIT_URL: 'http://livekit.invalid',
      LIVEKIT_API_KEY: 'APIdocs',
      LIVEKIT_API_SECRET: 'docs-test-secret-long-enough-for-hs256',
    });
    const res = await fetch(`${t.baseUrl}/openapi.json`);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^application\/json/);
    doc = await res.json();
  });
  after(() => t.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    expect(doc.openapi).to.equal('3.1.0');
    const result = await new Validator().validate(doc);
    expect(result.errors ?? [], JSON.stringify(result.errors, null, 1)).to.deep.equal([]);
    expect(result.valid).to.equal(true);
  });

  it('describes every HTTP route the app serves, and only those', () => {
    const served = appRoutes(t.gateway.app);
    const described = documentRoutes(doc);
    expect([...served].filter((r) => !described.has(r)), 'served but not in the document').to.deep.equal([]);
    expect([...described].filter((r) => !served.has(r)), 'in the document but not served').to.deep.equal([]);
    // The walk really reaches mounted routers and plain routes alike.
    for (const route of ['GET /health', 'POST /twilio/voice', 'POST /api/tasks', 'GET /api/tasks/{id}/audio', 'GET /api/telemetry/summary', 'GET /metrics', 'GET /openapi.json']) {
      expect(served.has(route), route).to.equal(true);
    }
  });

  it('the route walk sees a route added to the app, so one left out of the document fails', async () => {
    const extra = await startTestGateway();
    try {
      extra.gateway.app.get('/api/undocumented/:id', (_req, res) => void res.end());
      expect(appRoutes(extra.gateway.app).has('GET /api/undocumented/{id}')).to.equal(true);
      expect(documentRoutes(doc).has('GET /api/undocumented/{id}')).to.equal(false);
    } finally {
      await extra.close();
    }
  });

  it('names the WebSocket routes in its description, and the error shape and security schemes', () => {
    expect(doc.info.description).to.include('/twilio/media-stream/{token}').and.include('/ws/call/{id}');
    expect(doc.components.schemas.ApiError.required).to.deep.equal(['error', 'message']);
    expect(Object.keys(doc.components.securitySchemes).sort()).to.deep.equal(['apiKey', 'metricsToken', 'twilioSignature']);
    expect(doc.paths['/api/tasks'].post.security).to.deep.equal([{ apiKey: [] }]);
    expect(doc.paths['/api/tasks'].post.responses['401'].content['application/json'].schema).to.deep.equal({ $ref: '#/components/schemas/ApiError' });
    expect(doc.paths['/metrics'].get.security).to.deep.equal([{ metricsToken: [] }]);
    expect(doc.paths['/health'].get.security).to.deep.equal([]);
    expect(doc.paths['/twilio/voice'].post.requestBody.content).to.have.key('application/x-www-form-urlencoded');
    expect(JSON.stringify(doc)).to.not.include('__shared');
  });

  it('refuses a route whose body schema is not named, and a route registered twice', () => {
    const route = (schema: z.ZodType): RouteDoc => ({ method: 'get', path: '/x', tag: 't', summary: 's', responses: { 200: { description: 'ok', schema } } });
    expect(() => buildOpenApiDocument([route(z.object({ a: z.string() }))], { version: '1' })).to.throw(/GET \/x: a body schema is not named/);
    const schema = named('OpenApiTestBody', z.object({ a: z.string() }));
    try {
      expect(() => buildOpenApiDocument([route(schema), route(schema)], { version: '1' })).to.throw(/GET \/x is registered twice/);
    } finally {
      apiSchemas.remove(schema);
    }
  });
});
