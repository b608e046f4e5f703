// The rooms routes' descriptions for the OpenAPI document match what the gateway serves: every
// documented route is served (503 without LiveKit, a documented status with it), and real replies
// are exactly what their documented schemas describe (parsing one gives it back unchanged).
import { expect } from 'chai';
import nock from 'nock';
import { z } from 'zod';
import { roomRouteDocs } from '../../src/rooms/route-docs.js';
import { api } from '../helpers/task-api.js';
import { startTestGateway } from '../helpers/test-gateway.js';

const LIVEKIT = { LIVEKIT_URL: 'http://lk.test', LIVEKIT_API_KEY: 'APIdocs', LIVEKIT_API_SECRET: 'docs-test-secret-long-enough-for-hs256' };
const METHOD = { get: 'GET', post: 'POST', delete: 'DELETE' } as const;
const httpMethod = (method: string): 'GET' | 'POST' | 'DELETE' => METHOD[method as keyof typeof METHOD];

describe('rooms: route descriptions', function () {
  this.timeout(20_000);
  before(() => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1/);
  });
  after(() => {
    nock.cleanAll();
    nock.enableNetConnect();
  });

  it('describes each route with schemas that convert to JSON Schema', () => {
    expect(roomRouteDocs.map((d) => `${d.method} ${d.path}`)).to.deep.equal([
      'get /token',
      'post /session',
      'get /session',
      'get /session/{id}',
      'delete /session/{id}',
    ]);
    for (const doc of roomRouteDocs) {
      const schemas = [doc.query, doc.pathParams, doc.request?.schema, ...Object.values(doc.responses).map((r) => r.schema)].filter((s) => s !== undefined);
      for (const schema of schemas) expect(() => z.toJSONSchema(schema, { io: 'input' }), `${doc.method} ${doc.path}`).not.to.throw();
    }
  });

  it('serves every documented route, and its real replies are exactly their documented schemas', async () => {
    const bare = await startTestGateway();
    const t = await startTestGateway(LIVEKIT);
    try {
      for (const doc of roomRouteDocs) {
        const path = doc.path.replace('{id}', 'ses_x');
        const res = await api(bare, httpMethod(doc.method), path, doc.method === 'post' ? { body: {} } : {});
        expect(res.status, `${doc.method} ${doc.path}`).to.equal(503);
        expect(doc.responses, `${doc.method} ${doc.path}`).to.have.property('503');
      }
      nock('http://lk.test').post('/twirp/livekit.AgentDispatchService/CreateDispatch').reply(200, { id: 'AD_docs' });
      nock('http://lk.test').post('/twirp/livekit.AgentDispatchService/DeleteDispatch').reply(200, {});
      const created = await api(t, 'POST', '/session', { body: { room: 'docs', identity: 'u', metadata: { a: 1 } } });
      const id = created.body.session_id as string;
      await t.gateway.roomSessions!.line(id, { role: 'user', text: 'hi', atMs: 5, interrupted: true });
      const replies: Record<string, { status: number; body: unknown }> = {
        'get /token': await api(t, 'GET', '/token?room=docs&identity=u&name=U'),
        'post /session': created,
        'get /session': await api(t, 'GET', '/session?limit=1'),
        'get /session/{id}': await api(t, 'GET', `/session/${id}`),
        'delete /session/{id}': await api(t, 'DELETE', `/session/${id}`),
      };
      for (const doc of roomRouteDocs) {
        const key = `${doc.method} ${doc.path}`;
        const reply = replies[key]!;
        const documented = doc.responses[reply.status];
        expect(documented, `${key} answered ${reply.status}`).to.not.equal(undefined);
        expect(documented!.schema!.parse(reply.body), key).to.deep.equal(reply.body);
      }
    } finally {
      await Promise.all([bare.close(), t.close()]);
    }
  });
});
