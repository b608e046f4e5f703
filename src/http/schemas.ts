// The one error shape of every route, as a schema for the OpenAPI document, tied at compile time
// to the ApiErrorBody type that sendError writes.
import { z } from 'zod';
import { named, type SameShape } from '../openapi/registry.js';
import type { FieldError } from '../util/field-error.js';
import type { ApiErrorBody } from './errors.js';

export const FieldErrorSchema = named(
  'FieldError',
  z.object({
    field: z.string().meta({ description: 'The body field or query parameter, e.g. `to`, `limit`, or `body` for the body as a whole.' }),
    message: z.string(),
  }),
);

export const ApiErrorSchema = named(
  'ApiError',
  z
    .object({
      error: z.string().meta({ description: 'A stable snake_case code to branch on, e.g. `task_not_found`, `unauthorized`.' }),
      message: z.string().meta({ description: 'A sentence for people; never a secret.' }),
      details: z.array(FieldErrorSchema).optional().meta({ description: 'Every bad field of the request, when it was a 400.' }),
    })
    .meta({ description: 'Every error reply of every route.' }),
);

true satisfies SameShape<z.infer<typeof FieldErrorSchema>, FieldError>;
true satisfies SameShape<z.infer<typeof ApiErrorSchema>, ApiErrorBody>;

/** A reply with the error shape, for a route's responses. */
export const errorReply = (description: string) => ({ description, schema: ApiErrorSchema });
