// What is wrong with one named input (a body field, a query parameter): collected, not thrown, so
// one reply names every bad field and a client fixes its request in one round trip.

export interface FieldError {
  field: string;
  message: string;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };
