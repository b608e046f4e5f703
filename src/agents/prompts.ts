// Recorded prompts the gateway can play when no agent can speak for itself. Each is read on
// first use and kept: they are rarely needed, and a start-up never pays for them.
import { readFileSync } from 'node:fs';
import { mulawFromWav } from '../audio/wav-io.js';

const cache = new Map<string, Buffer>();

function prompt(name: string): Buffer {
  let audio = cache.get(name);
  if (!audio) {
    audio = mulawFromWav(readFileSync(new URL(`./prompts/${name}`, import.meta.url)), name);
    cache.set(name, audio);
  }
  return audio;
}

/** "I'm sorry, our assistant is having trouble right now. Please call again in a few minutes. Goodbye." */
export const agentUnavailablePrompt = (): Buffer => prompt('agent-unavailable-8k-mulaw.wav');
