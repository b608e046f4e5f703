// What every page is: mounted into the main element, and asked to let go (sockets, timers) when
// the reader leaves it.
export type Unmount = () => void;
export type Page = (root: HTMLElement, params: string[]) => Unmount;

/** Collects what a page must undo when it is left. */
export class Disposer {
  private readonly undo: Array<() => void> = [];
  add(fn: () => void): void {
    this.undo.push(fn);
  }
  dispose = (): void => {
    for (const fn of this.undo.splice(0).reverse()) fn();
  };
}
