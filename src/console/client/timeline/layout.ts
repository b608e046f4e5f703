// Where things go on the timeline picture: one time axis for both channels, so that anything at
// t seconds is drawn at x(t) = left + t / duration × width. Pure: no DOM, so tests (and the page)
// can compute the exact place of any mark from the data.

export const PLOT_LEFT = 96;
export const PLOT_RIGHT = 16;
/** The plot's width for calls up to MIN_PLOT_WIDTH / PX_PER_SECOND (about 28 s): it fits the page. */
export const MIN_PLOT_WIDTH = 1088;
/** Longer calls get at least this much room per second, and the picture scrolls sideways. */
export const PX_PER_SECOND = 40;

/** Vertical bands, top to bottom. */
export const ROWS = {
  axis: { top: 0, height: 24 },
  caller: { top: 28, height: 80 },
  gap: { top: 108, height: 22 },
  agent: { top: 130, height: 80 },
  userLines: { top: 218, height: 40 },
  agentLines: { top: 262, height: 40 },
} as const;
export const VIEW_HEIGHT = 306;

export class TimeScale {
  /** Width of the time axis, in view units. */
  readonly plotWidth: number;
  /** Width of the whole picture. */
  readonly viewWidth: number;

  constructor(readonly durationS: number) {
    this.plotWidth = Math.max(MIN_PLOT_WIDTH, Math.ceil(durationS * PX_PER_SECOND));
    this.viewWidth = PLOT_LEFT + this.plotWidth + PLOT_RIGHT;
  }

  /** x of a time in seconds. */
  x(seconds: number): number {
    return PLOT_LEFT + (this.durationS > 0 ? (seconds / this.durationS) * this.plotWidth : 0);
  }

  /** Time in seconds at an x, clamped to the recording. */
  seconds(x: number): number {
    const t = ((x - PLOT_LEFT) / this.plotWidth) * this.durationS;
    return Math.min(this.durationS, Math.max(0, t));
  }

  /** Tick step (s) giving about `target` ticks. */
  tickStep(): number {
    // About one tick per 100 view units.
    const raw = this.durationS / (this.plotWidth / 100);
    for (const step of [0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600]) if (step >= raw) return step;
    return 1200;
  }
}

/**
 * A channel's outline: for each of `columns` equal slices of time, the lowest and highest sample.
 * Drawn as one closed path, it shows every peak however long the call.
 */
export function envelope(samples: Float32Array, columns: number): { min: Float32Array; max: Float32Array } {
  const min = new Float32Array(columns);
  const max = new Float32Array(columns);
  const per = samples.length / columns;
  for (let column = 0; column < columns; column++) {
    const from = Math.floor(column * per);
    const to = Math.max(from + 1, Math.floor((column + 1) * per));
    let low = 0;
    let high = 0;
    for (let i = from; i < to && i < samples.length; i++) {
      const value = samples[i]!;
      if (value < low) low = value;
      if (value > high) high = value;
    }
    min[column] = low;
    max[column] = high;
  }
  return { min, max };
}

/** Longest label, in view units: a long line is cut with an ellipsis (its full text is its tooltip). */
const MAX_LABEL_WIDTH = 360;

/**
 * Places labels in a lane of two lines: each starts at its own time, on the first line free
 * there; its text is cut to end before the label two further on (likely on the same line).
 */
export function laneSlots(xs: number[], charWidth: number, lengths: number[], end: number): Array<{ line: 0 | 1; maxChars: number }> {
  const ends: [number, number] = [-Infinity, -Infinity];
  return xs.map((x, index) => {
    const line: 0 | 1 = x >= ends[0] ? 0 : x >= ends[1] ? 1 : ends[0] <= ends[1] ? 0 : 1;
    const limit = Math.min(xs[index + 2] ?? end, x + MAX_LABEL_WIDTH, end + 40);
    const maxChars = Math.max(6, Math.floor((limit - x - 14) / charWidth));
    ends[line] = x + Math.min(lengths[index]!, maxChars) * charWidth + 14;
    return { line, maxChars };
  });
}
