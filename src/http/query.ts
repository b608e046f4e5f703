// Query parameters of the API, read one way everywhere: each parameter at most once, as a plain
// value; numbers as digits only. Problems are collected, so one 400 names every bad parameter.
import type { Request } from 'express';
import type { FieldError } from '../util/field-error.js';

export class QueryReader {
  readonly errors: FieldError[] = [];

  constructor(private readonly query: Request['query']) {}

  /** The parameter's value, `''` when given empty, undefined when absent or given twice (an error). */
  string(field: string): string | undefined {
    // Express 5's default query parser yields a string, or an array when a key repeats.
    const raw = this.query[field];
    if (raw === undefined || typeof raw === 'string') return raw;
    return this.fail(field, 'must be given once, as a plain value');
  }

  /** An empty filter (`?component=`) means no filter. */
  filter(field: string): string | undefined {
    return this.string(field) || undefined;
  }

  /** A whole number in [min, max]; '5.0', '+5', ' 5' and '1e2' are refused rather than guessed at. */
  int(field: string, min: number, max: number): number | undefined {
    const raw = this.string(field);
    if (raw === undefined) return undefined;
    const value = /^\d{1,15}$/.test(raw) ? Number(raw) : NaN;
    if (value >= min && value <= max) return value;
    return this.fail(field, `must be an integer from ${min} to ${max}`);
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T | undefined {
    const raw = this.string(field);
    if (raw === undefined || (allowed as readonly string[]).includes(raw)) return raw as T | undefined;
    return this.fail(field, `must be one of ${allowed.join(', ')}`);
  }

  fail(field: string, message: string): undefined {
    this.errors.push({ field, message });
    return undefined;
  }
}
