// The blocks recorders mix into before a write: one pool for every recorder in the process. A
// flush takes a block and its write gives it back. Kept per call, two spares of 39 KB each came to
// 7.8 MB at 100 calls, every one of them cold in the cache by the time its call flushed again a
// second later; shared, the few blocks the writes in flight hold are reused by whichever call
// flushes next. Fresh blocks are not a per-second allocation either: off-heap memory freed at
// that rate brings collections that show up as relay-latency spikes at a few hundred calls.

/** Spare blocks kept per block size: more than the writes a process has in flight at once. */
const DEFAULT_MAX_SPARES = 16;

export class MixBlockPool {
  private readonly spares = new Map<number, Int32Array[]>();
  /** Buffers of blocks this pool made: only those come back into it. */
  private readonly made = new WeakSet<ArrayBufferLike>();

  constructor(private readonly maxSpares = DEFAULT_MAX_SPARES) {}

  /** A block of `words` stereo samples: a spare when there is one, else a new one. Its content is stale. */
  take(words: number): Int32Array {
    const spare = this.spares.get(words)?.pop();
    if (spare) return spare;
    const block = new Int32Array(words);
    this.made.add(block.buffer);
    return block;
  }

  /** A block (or a view of one) whose write is done. Anything this pool did not make is ignored. */
  give(view: ArrayBufferView): void {
    const buffer = view.buffer;
    if (!this.made.has(buffer)) return;
    const words = buffer.byteLength / Int32Array.BYTES_PER_ELEMENT;
    let list = this.spares.get(words);
    if (!list) this.spares.set(words, (list = []));
    if (list.length < this.maxSpares && !list.some((block) => block.buffer === buffer)) list.push(new Int32Array(buffer));
  }

  /** Spare blocks of this size (for tests and diagnostics). */
  spareCount(words: number): number {
    return this.spares.get(words)?.length ?? 0;
  }
}

/** The process's pool. */
export const MIX_BLOCKS = new MixBlockPool();
