// Sample-rate conversion between the browser's audio clock (usually 48 kHz) and the telephone's
// 8 kHz, streaming: state carries over between the worklet's 128-sample blocks. Pure: no DOM.

/**
 * Down to a lower rate: each output sample is the mean of the input samples of its own period
 * (a box filter, which keeps most energy above the new Nyquist frequency out), read at fractional
 * positions so any ratio works, 44.1 kHz as well as 48 kHz.
 */
export class Downsampler {
  private readonly step: number;
  /** Input position (in input samples, relative to the next block) where the next output period ends. */
  private nextEnd: number;
  private sum = 0;
  private count = 0;

  constructor(inputRate: number, outputRate: number) {
    if (!(outputRate > 0 && inputRate >= outputRate)) throw new RangeError(`cannot downsample ${inputRate} Hz to ${outputRate} Hz`);
    this.step = inputRate / outputRate;
    this.nextEnd = this.step;
  }

  /** Feeds a block; `emit` gets each finished output sample. */
  push(input: Float32Array, emit: (sample: number) => void): void {
    for (let i = 0; i < input.length; i++) {
      this.sum += input[i]!;
      this.count++;
      if (i + 1 >= this.nextEnd) {
        emit(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
        this.nextEnd += this.step;
      }
    }
    this.nextEnd -= input.length;
  }
}
