// What went wrong on the callers' sockets during a run, the same way for every suite.

/** The part of a bench caller this report reads. */
export interface SocketRecord {
  readonly errors: readonly string[];
  readonly unexpectedClose: string | undefined;
  readonly closeTimedOut: boolean;
}

export interface SocketProblems {
  errors: number;
  unexpectedCloses: number;
  closeTimeouts: number;
  /** Up to five distinct messages, to show what kind of failure it was. */
  samples: string[];
}

export function socketProblems(callers: readonly SocketRecord[]): SocketProblems {
  const samples = new Set<string>();
  for (const caller of callers) {
    for (const e of caller.errors) if (samples.size < 5) samples.add(e);
    if (caller.unexpectedClose && samples.size < 5) samples.add(caller.unexpectedClose);
  }
  return {
    errors: callers.reduce((n, c) => n + c.errors.length, 0),
    unexpectedCloses: callers.filter((c) => c.unexpectedClose !== undefined).length,
    closeTimeouts: callers.filter((c) => c.closeTimedOut).length,
    samples: [...samples],
  };
}
