// The one test for "a JSON-style object": untrusted bodies, parsed JSON and log metadata all use it.

/** An object literal or `Object.create(null)`: not null, an array, a Date, a Buffer or a class instance. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
