// Reading the gateway against its OpenAPI document: the routes express really serves (walked from
// the app's router stacks), and a check of a real reply against the schema the document gives
// for its method, path and status (ajv, JSON Schema draft 2020-12 as in OpenAPI 3.1).
import type { Application } from 'express';
import { Ajv2020 } from 'ajv/dist/2020.js';

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  rawPath?: string | string[];
}

/** express-ws registers each WebSocket route as a GET of `<path>/.websocket`: not an HTTP route. */
const WEBSOCKET_SUFFIX = '/.websocket';

/** `/api/tasks/:id` → `/api/tasks/{id}`; a router's own `/` is its mount path (`/api/tasks/` → `/api/tasks`). */
const asTemplate = (path: string): string => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/(.)\/$/, '$1');

/** Every `METHOD /path` the app serves over HTTP, mounted routers included. */
export function appRoutes(app: Application): Set<string> {
  const found = new Set<string>();
  const walk = (stack: Layer[], prefix: string): void => {
    for (const layer of stack) {
      if (layer.route) {
        for (const path of [layer.route.path].flat()) {
          const full = prefix + path;
          if (full.endsWith(WEBSOCKET_SUFFIX)) continue;
          for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') found.add(`${method.toUpperCase()} ${asTemplate(full)}`);
        }
      } else if (layer.handle?.stack) {
        const mount = [layer.rawPath ?? ''].flat()[0] ?? '';
        walk(layer.handle.stack, prefix + (mount === '/' ? '' : mount));
      }
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return found;
}

type Doc = { paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: object }> }> }>> };

/** Every `METHOD /path` the document describes. */
export function documentRoutes(doc: Doc): Set<string> {
  const found = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) for (const method of Object.keys(item)) found.add(`${method.toUpperCase()} ${path}`);
  return found;
}

const pointer = (...parts: string[]): string => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Checks replies against the document: their status must be documented, their JSON body must match its schema. */
export class ResponseChecker {
  private readonly ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  /** Every (route, status) a test has checked. */
  readonly checked = new Set<string>();

  constructor(private readonly doc: Doc) {
    this.ajv.addSchema(doc as object, 'openapi.json');
  }

  /** The document's response for `method path status`; throws when there is none. */
  responseOf(method: string, path: string, status: number): { content: Record<string, { schema?: object }> } {
    const response = this.doc.paths[path]?.[method.toLowerCase()]?.responses[String(status)];
    if (!response) throw new Error(`${method.toUpperCase()} ${path} → ${status} is not in the document`);
    return { content: response.content ?? {} };
  }

  /** Throws, naming what is wrong, when `body` is not what the document says `method path` answers with `status`. */
  check(method: string, path: string, status: number, body: unknown, contentType = 'application/json'): void {
    const where = `${method.toUpperCase()} ${path} → ${status}`;
    const response = this.doc.paths[path]?.[method.toLowerCase()]?.responses[String(status)];
    if (!response) throw new Error(`${where} is not in the document`);
    const media = response.content?.[contentType];
    if (!media?.schema) throw new Error(`${where}: the document gives no ${contentType} schema`);
    const ref = `openapi.json#/${pointer('paths', path, method.toLowerCase(), 'responses', String(status), 'content', contentType, 'schema')}`;
    const validate = this.ajv.getSchema(ref) ?? this.ajv.compile({ $ref: ref });
    if (!validate(body)) throw new Error(`${where}: the reply does not match the document: ${this.ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
    this.checked.add(where);
  }
}
