// Failure on demand, shared by the provider stand-ins. A test arms a fault for one of a stand-in's
// routes; the next requests on that route fail that way instead of being answered.

/**
 * - `status`: answer with this HTTP status and an error body in the provider's shape (a WebSocket
 *   upgrade is refused with it).
 * - `hang`: accept the request and never answer it (for a WebSocket: never complete the upgrade);
 *   with `afterChunks`/`afterMs`, start answering and then stall there, the socket left open.
 * - `drop`: start answering, then destroy the socket without a goodbye.
 * Where a reply is cut: after `afterChunks` chunks of it (streamed HTTP bodies, TTS audio), or after
 * `afterMs` of audio received (streaming STT).
 */
export type Fault =
  | { kind: 'status'; status: number; message?: string }
  | { kind: 'hang'; afterChunks?: number; afterMs?: number }
  | { kind: 'drop'; afterChunks?: number; afterMs?: number };

/** Where and how a reply that has started is cut short. */
export interface Cut {
  after: number;
  how: 'drop' | 'hang';
}

/** Whether the fault refuses the request before any answer: a status, or a hang from the start. */
export function failsAtOnce(fault: Fault | undefined): fault is Fault {
  return fault?.kind === 'status' || (fault?.kind === 'hang' && fault.afterChunks === undefined && fault.afterMs === undefined);
}

/** The cut a fault makes in a reply counted in `unit`, if any (a drop without a count: `defaultDrop`). */
export function cutOf(fault: Fault | undefined, unit: 'afterChunks' | 'afterMs', defaultDrop: number): Cut | undefined {
  if (fault?.kind === 'drop') return { after: fault[unit] ?? defaultDrop, how: 'drop' };
  if (fault?.kind === 'hang' && fault[unit] !== undefined) return { after: fault[unit], how: 'hang' };
  return undefined;
}

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
