// Builds the OpenAPI 3.1 document from the route descriptions the domains register. Bodies are
// zod schemas turned into JSON Schema draft 2020-12, OpenAPI 3.1's own dialect, so nothing is
// written twice: a route's schema is the document.
import { z } from 'zod';
import { apiSchemas, type BodyDoc, type Guard, type RouteDoc } from './registry.js';

type Json = Record<string, unknown>;

const COMPONENTS = '#/components/schemas/';
/** zod puts schemas that several named ones share (unnamed, or recursive) under this entry. */
const SHARED = '__shared';

const SECURITY_SCHEMES: Record<Guard, Json> = {
  apiKey: {
    type: 'http',
    scheme: 'bearer',
    description: 'API_KEY as `Authorization: Bearer <key>`; required only when API_KEY is set. The live WebSocket `/ws/call/{id}` also takes `?token=<key>`.',
  },
  metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN as `Authorization: Bearer <token>`; required only when METRICS_TOKEN is set.' },
  twilioSignature: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Twilio-Signature',
    description: "Twilio's HMAC-SHA1 of PUBLIC_URL + path + sorted form fields under TWILIO_AUTH_TOKEN; checked only when TWILIO_AUTH_TOKEN is set.",
  },
};

const DESCRIPTION = [
  'A Twilio media-stream gateway for AI voice agents.',
  '',
  'WebSocket routes (not HTTP operations, so described here):',
  "- `WS /twilio/media-stream/{token}`: Twilio's media stream (see POST /twilio/voice); signature-checked when TWILIO_AUTH_TOKEN is set, else the bare `/twilio/media-stream`.",
  "- `WS /ws/call/{id}`: a task's live events (snapshot, status, transcript, latency, call_ended, analysis); API key as a Bearer header or `?token=`.",
  '',
  'Every error reply is `{error, message, details?}` (ApiError).',
].join('\n');

export interface DocumentInfo {
  version: string;
}

export function buildOpenApiDocument(routes: readonly RouteDoc[], info: DocumentInfo): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    if (item[route.method]) throw new Error(`${route.method.toUpperCase()} ${route.path} is registered twice`);
    item[route.method] = operation(route);
  }
  const tags = [...new Set(routes.map((route) => route.tag))].map((name) => ({ name }));
  return {
    openapi: '3.1.0',
    info: { title: 'Telephony gateway for AI voice agents', version: info.version, description: DESCRIPTION },
    tags,
    paths,
    components: { schemas: componentSchemas(), securitySchemes: SECURITY_SCHEMES },
  };
}

/** Every named schema, as components; what zod shares between them is hoisted beside them. */
function componentSchemas(): Record<string, Json> {
  const { schemas } = z.toJSONSchema(apiSchemas, { target: 'draft-2020-12', uri: (id) => COMPONENTS + id });
  const out: Record<string, Json> = {};
  for (const [id, schema] of Object.entries(schemas as Record<string, Json>)) {
    if (id === SHARED) Object.assign(out, (schema.$defs ?? {}) as Record<string, Json>);
    else out[id] = schema;
  }
  return rewriteSharedRefs(stripIds(out)) as Record<string, Json>;
}

/** Components carry no `$schema`/`$id`: the document's dialect applies, and refs resolve against it. */
function stripIds(schemas: Record<string, Json>): Record<string, Json> {
  return Object.fromEntries(Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...rest }]) => [id, rest]));
}

function rewriteSharedRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteSharedRefs);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) =>
      key === '$ref' && typeof inner === 'string' ? [key, inner.replace(`${COMPONENTS}${SHARED}#/$defs/`, COMPONENTS)] : [key, rewriteSharedRefs(inner)],
    ),
  );
}

function operation(route: RouteDoc): Json {
  const responses: Record<string, Json> = {};
  for (const [status, body] of Object.entries(route.responses)) responses[status] = response(body, route);
  // A guarded API route answers 401 without its key; said once here rather than on every route.
  if (route.guard === 'apiKey' && !responses['401']) responses['401'] = response({ description: 'unauthorized: API_KEY is set and was not sent', schema: errorSchemaOf(route) }, route);
  return {
    operationId: operationId(route),
    summary: route.summary,
    ...(route.description && { description: route.description }),
    tags: [route.tag],
    security: route.guard ? [{ [route.guard]: [] }] : [],
    ...withParameters(route),
    ...(route.request && {
      requestBody: { required: true, description: route.request.description, content: { [route.request.contentType ?? 'application/json']: { schema: refTo(route.request.schema, route) } } },
    }),
    responses,
  };
}

/** The error schema a route already uses (every error reply is the same shape). */
function errorSchemaOf(route: RouteDoc): z.ZodType | undefined {
  return Object.entries(route.responses).find(([status, body]) => Number(status) >= 400 && body.schema)?.[1].schema;
}

function response(body: BodyDoc, route: RouteDoc): Json {
  const headers = body.headers && Object.fromEntries(Object.entries(body.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }]));
  const content = body.schema
    ? { [body.contentType ?? 'application/json']: { schema: refTo(body.schema, route) } }
    : body.contentType
      ? { [body.contentType]: { schema: body.contentType.startsWith('text/') ? { type: 'string' } : { type: 'string', contentMediaType: body.contentType } } }
      : undefined;
  return { description: body.description, ...(headers && { headers }), ...(content && { content }) };
}

/** A body schema must be named: the document refers to it, and a reader finds it by name. */
function refTo(schema: z.ZodType, route: RouteDoc): Json {
  const id = apiSchemas.get(schema)?.id;
  if (id === undefined) throw new Error(`${route.method.toUpperCase()} ${route.path}: a body schema is not named (wrap it in named())`);
  return { $ref: COMPONENTS + id };
}

function withParameters(route: RouteDoc): { parameters?: Json[] } {
  const parameters = [
    ...parametersOf(route.pathParams, 'path'),
    ...parametersOf(route.query, 'query'),
    ...Object.entries(route.headers ?? {}).map(([name, description]) => ({ name, in: 'header', required: false, description, schema: { type: 'string' } })),
  ];
  return parameters.length > 0 ? { parameters } : {};
}

function parametersOf(shape: z.ZodObject | undefined, where: 'path' | 'query'): Json[] {
  if (!shape) return [];
  return Object.entries(shape.shape).map(([name, field]) => {
    const { $schema: _s, description, ...schema } = z.toJSONSchema(field as z.ZodType, { target: 'draft-2020-12', io: 'input' }) as Json;
    const required = where === 'path' || !(field as z.ZodType).safeParse(undefined).success;
    return { name, in: where, required, ...(typeof description === 'string' && { description }), schema };
  });
}

/** e.g. `get /api/tasks/{id}/audio` → `getApiTasksIdAudio`. */
function operationId(route: RouteDoc): string {
  const words = route.path.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return route.method + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}
