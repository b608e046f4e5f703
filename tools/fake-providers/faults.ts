// Failure on demand, shared by the provider stand-ins. A test arms a fault for one of a stand-in's
// routes; the next requests on that route fail that way instead of being answered.

/**
 * - `status`: answer with this HTTP status and an error body in the provider's shape (a WebSocket
 *   upgrade is refused with it).
 * - `hang`: accept the request and never answer it (for a WebSocket: never complete the upgrade).
 * - `drop`: start answering, then destroy the socket without a goodbye: after `afterChunks` chunks
 *   of the reply (HTTP bodies and TTS audio), or after `afterMs` of received audio (streaming STT).
 */
export type Fault =
  | { kind: 'status'; status: number; message?: string }
  | { kind: 'hang' }
  | { kind: 'drop'; afterChunks?: number; afterMs?: number };

interface Armed {
  fault: Fault;
  /** Requests still to fail; Infinity until `recover()`. */
  remaining: number;
}

export class FaultPlan<Route extends string> {
  private readonly armed = new Map<Route, Armed>();

  /** The next `times` requests on `route` fail with `fault` (every one until `recover`, by default). */
  fail(route: Route, fault: Fault, times = Infinity): void {
    if (!(times > 0)) throw new Error(`times must be positive, got ${times}`);
    this.armed.set(route, { fault, remaining: times });
  }

  /** Disarms `route`, or every route. */
  recover(route?: Route): void {
    if (route === undefined) this.armed.clear();
    else this.armed.delete(route);
  }

  /** The fault the request now arriving on `route` must suffer, if any (consumes one). */
  take(route: Route): Fault | undefined {
    const armed = this.armed.get(route);
    if (armed === undefined) return undefined;
    armed.remaining -= 1;
    if (armed.remaining <= 0) this.armed.delete(route);
    return armed.fault;
  }
}
