// One call's unexpected exception must not take every other call in the process down with it.
// Each call runs its start, its end and everything they set going (agent sockets, timers, promise
// chains) inside an AsyncLocalStorage scope that holds the call. Node (checked on 20) hands that
// scope to 'uncaughtException' and 'unhandledRejection' handlers for an error thrown in a timer,
// a socket callback or a promise chain begun inside it; the handler logs the error with the
// call's ids and ends that call. Frames from Twilio's socket arrive outside any scope (the socket
// predates the call), so the session guards them itself with try/catch, which costs the hot path
// nothing. An exception outside every call leaves the process in an unknown state: it is logged
// and the process exits, as Node itself would.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '../telemetry/logger.js';

/** What the guard needs from a call. */
export interface FaultScope {
  /** The call's ids, for the log line. */
  ids(): Record<string, string | undefined>;
  /** Ends the call after an unexpected exception in it; must not throw. */
  fault(err: unknown): void;
  /**
   * An error the scope knows to be harmless (e.g. a provider failure its agent already recovered
   * from, left unhandled by a library): logged as a warning, and the call goes on. Must not throw.
   */
  contains?(err: unknown): boolean;
}

const calls = new AsyncLocalStorage<FaultScope>();

/** Runs `fn` in the call's scope: callbacks and timers it starts are attributed to the call. */
export function inCallScope<T>(call: FaultScope, fn: () => T): T {
  return calls.run(call, fn);
}

/** Exit code for an exception outside any call (EX_SOFTWARE). */
const EXIT_INTERNAL = 70;

/**
 * Installs the process-wide handlers once; returns a function that removes them (for tests).
 * `exit` is replaceable so a test can observe the decision without ending its own process.
 */
export function installFaultGuard(logger: Logger, exit: (code: number) => void = (code) => process.exit(code)): () => void {
  const handle = (kind: string) => (err: unknown) => {
    const call = calls.getStore();
    const error = describe(err);
    if (!call) {
      logger.error(`${kind} outside any call; exiting`, error);
      process.stderr.write(`${error.stack ?? error.error}\n`);
      exit(EXIT_INTERNAL);
      return;
    }
    if (call.contains?.(err)) {
      logger.warn(`${kind} in a call, contained by it; the call goes on`, { ...call.ids(), ...error });
      return;
    }
    logger.error(`${kind} in a call; ending that call`, { ...call.ids(), ...error });
    call.fault(err);
  };
  const onException = handle('uncaught exception');
  const onRejection = handle('unhandled rejection');
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return () => {
    process.off('uncaughtException', onException);
    process.off('unhandledRejection', onRejection);
  };
}

function describe(err: unknown): { error: string; stack?: string } {
  if (err instanceof Error) return { error: `${err.name}: ${err.message}`, stack: err.stack };
  return { error: String(err) };
}
