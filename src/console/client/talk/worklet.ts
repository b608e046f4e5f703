// The audio thread of a browser call: runs the PhoneLine on the microphone's blocks and fills the
// speaker's. The page talks to it through the port (messages in worklet-messages.ts).
/// <reference path="./worklet-scope.d.ts" />
import { PhoneLine } from './phone-line.js';
import type { ToWorklet, FromWorklet } from './worklet-messages.js';

/** How often the page hears how much has played (in render quanta of 128 samples: about 100 ms at 48 kHz). */
const REPORT_EVERY_BLOCKS = 37;

class PhoneLineProcessor extends AudioWorkletProcessor {
  private readonly line: PhoneLine;
  private blocks = 0;

  constructor() {
    super();
    this.line = new PhoneLine(sampleRate, (report) => {
      if (report.type === 'frame') return this.send({ type: 'frame', payload: report.payload }, [report.payload.buffer]);
      this.send(report);
    });
    this.port.onmessage = (event: MessageEvent<ToWorklet>) => {
      const message = event.data;
      if (message.type === 'media') this.line.enqueue(message.payload);
      else if (message.type === 'mark') this.line.mark(message.name);
      else this.line.clear();
    };
  }

  process(inputs: Float32Array[][], outputs: Float32Array[][]): boolean {
    const microphone = inputs[0]?.[0];
    if (microphone) this.line.capture(microphone);
    const speaker = outputs[0];
    if (speaker?.[0]) {
      this.line.render(speaker[0]);
      for (let channel = 1; channel < speaker.length; channel++) speaker[channel]!.set(speaker[0]);
    }
    if (++this.blocks % REPORT_EVERY_BLOCKS === 0) this.send({ type: 'played', samples8k: this.line.samplesPlayed });
    return true;
  }

  private send(message: FromWorklet, transfer: Transferable[] = []): void {
    this.port.postMessage(message, transfer);
  }
}

registerProcessor('phone-line', PhoneLineProcessor);
