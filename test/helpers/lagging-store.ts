// A real task store behind a delay per method, as a store across a network (PostgreSQL) answers:
// each call reaches the real store after its delay. Writes the store finished are listed in
// order, so a test can say which landed first.
import { setTimeout as sleep } from 'node:timers/promises';
import type { TaskStore } from '../../src/tasks/store.js';

export type StoreMethod = Exclude<keyof TaskStore, 'close'>;

export interface LaggingStore extends TaskStore {
  /** `method arg` for each call the real store finished, in the order it finished them. */
  readonly done: string[];
}

/** Milliseconds, or milliseconds for the nth call (from 0) of the method. */
export type Lag = number | ((nth: number) => number);

/** `lagMs` per method, `defaultMs` for the rest. */
export function laggingStore(real: TaskStore, lagMs: Partial<Record<StoreMethod, Lag>>, defaultMs = 0): LaggingStore {
  const done: string[] = [];
  const calls = new Map<StoreMethod, number>();
  const delayOf = (method: StoreMethod): number => {
    const nth = calls.get(method) ?? 0;
    calls.set(method, nth + 1);
    const lag = lagMs[method] ?? defaultMs;
    return typeof lag === 'number' ? lag : lag(nth);
  };
  const lag =
    <M extends StoreMethod>(method: M) =>
    async (...args: Parameters<TaskStore[M]>): Promise<Awaited<ReturnType<TaskStore[M]>>> => {
      await sleep(delayOf(method));
      const result = await (real[method] as (...a: Parameters<TaskStore[M]>) => ReturnType<TaskStore[M]>)(...args);
      done.push(`${method} ${JSON.stringify(args[1] ?? args[0])}`);
      return result as Awaited<ReturnType<TaskStore[M]>>;
    };
  return {
    done,
    create: lag('create'),
    get: lag('get'),
    list: lag('list'),
    transition: lag('transition'),
    update: lag('update'),
    appendTranscript: lag('appendTranscript'),
    setAnalysis: lag('setAnalysis'),
    claimAnalysis: lag('claimAnalysis'),
    findByCallSid: lag('findByCallSid'),
    offerCallback: lag('offerCallback'),
    finishCallback: lag('finishCallback'),
    takeHeldCallback: lag('takeHeldCallback'),
    setStreamMember: lag('setStreamMember'),
    streamMembers: lag('streamMembers'),
    close: () => real.close(),
  };
}
