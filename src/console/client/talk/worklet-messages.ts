// Messages between the page and the phone-line worklet.
import type { LineReport } from './phone-line.js';

/** Page → worklet: the agent's audio, its marks, and Twilio's `clear`. */
export type ToWorklet = { type: 'media'; payload: Uint8Array } | { type: 'mark'; name: string } | { type: 'clear' };

/** Worklet → page: caller frames to send, marks whose audio has played, how much has played. */
export type FromWorklet = LineReport;

export const PROCESSOR_NAME = 'phone-line';
