// What each domain tells the OpenAPI document about its HTTP routes: method, path, summary,
// parameters, request and responses, each body a zod schema. Domains keep their schemas and route
// descriptions beside their routes (src/<domain>/schemas.ts); src/openapi/api-routes.ts lists them
// all, and a test fails when the app serves a route the list lacks, or the list names one it does not serve.
import { z } from 'zod';

/** Every named body schema; each becomes one entry of the document's components.schemas. */
export const apiSchemas = z.registry<{ id: string }>();

/** Names a schema for the document (`#/components/schemas/<id>`) and returns it. */
export function named<T extends z.ZodType>(id: string, schema: T): T {
  apiSchemas.add(schema, { id });
  return schema;
}

/**
 * True when A and B are assignable both ways: the compile-time tie between a type the code uses
 * and the schema that documents it. `true satisfies SameShape<A, B>` fails to compile otherwise.
 */
export type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** How a route is guarded (see src/openapi/document.ts for each scheme's description). */
export type Guard = 'apiKey' | 'metricsToken' | 'twilioSignature';

export interface BodyDoc {
  description: string;
  /** A named schema (see named()); omitted for a body the document describes in words only. */
  schema?: z.ZodType;
  /** Default application/json. */
  contentType?: string;
  /** Response headers worth naming, e.g. Content-Range. */
  headers?: Record<string, string>;
}

export interface RouteDoc {
  method: HttpMethod;
  /** OpenAPI's path template, e.g. `/api/tasks/{id}`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  guard?: Guard;
  /** One property per `{name}` in the path. */
  pathParams?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers a client may send, by name, e.g. Range. */
  headers?: Record<string, string>;
  request?: BodyDoc & { schema: z.ZodType };
  responses: Record<number, BodyDoc>;
}
