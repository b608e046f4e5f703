// What the two-engine store suites share: an engine makes an empty place (a data directory, a
// database) and opens stores on it; each test gets a fresh place, and every store it opened is
// closed and the place removed after it.

/** What every store has: it closes. */
type Closable = { close(): Promise<void> };

export interface StoreEngineOf<S extends Closable> {
  /** A new, empty place for a store: a data directory, a database URL. */
  freshLocation(): Promise<string>;
  /** Opens a store on `location`; several may be open on one location at once, as several instances are. */
  open(location: string, options?: { now?: () => Date }): Promise<S>;
  /** Removes what freshLocation made, once its stores are closed. */
  dispose?(location: string): Promise<void> | void;
}

export interface StoresPerTest<S> {
  /** The store the test starts with (opened in its beforeEach). */
  readonly first: S;
  /** Another store on the same place, as another instance would open it. */
  open(options?: { now?: () => Date }): Promise<S>;
  /** Closes a store mid-test (a restart), so the test's end does not close it twice. */
  close(store: S): Promise<void>;
}

/** Registers the beforeEach/afterEach that give each test a fresh place and close what it opened. */
export function storesPerTest<S extends Closable>(engine: StoreEngineOf<S>, defaults: () => { now?: () => Date } = () => ({})): StoresPerTest<S> {
  let location: string;
  let opened: S[] = [];
  let first: S;
  const open = async (options?: { now?: () => Date }): Promise<S> => {
    const next = await engine.open(location, options ?? defaults());
    opened.push(next);
    return next;
  };
  beforeEach(async () => {
    opened = [];
    location = await engine.freshLocation();
    first = await open();
  });
  afterEach(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await engine.dispose?.(location);
  });
  return {
    get first() {
      return first;
    },
    open,
    async close(store) {
      opened = opened.filter((s) => s !== store);
      await store.close();
    },
  };
}
