// Recorded prompts the gateway can play when no agent can speak for itself. Read once at start.
import { readFileSync } from 'node:fs';
import { mulawFromWav } from '../audio/wav-io.js';

const load = (name: string): Buffer => {
  const file = new URL(`./prompts/${name}`, import.meta.url);
  return mulawFromWav(readFileSync(file), name);
};

/** "I'm sorry, our assistant is having trouble right now. Please call again in a few minutes. Goodbye." */
export const AGENT_UNAVAILABLE_PROMPT: Buffer = load('agent-unavailable-8k-mulaw.wav');
