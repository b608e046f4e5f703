// Variables that look like ours but are not read (`AGENT_PROVIDR`, `TWILIO_AUTH_TOKN`): a typo in
// `.env` would otherwise silently leave a setting at its default. Warned about at start.
import { closestName } from '../util/edit-distance.js';

/**
 * Names in `.env.example` that this build does not read yet (the LiveKit pipeline, the back-office
 * ingest): known, so setting them is not warned about as a typo.
 */
export const RESERVED_VARIABLES: readonly string[] = [
  'DJANGO_BASE_URL',
  'INGEST_TOKEN',
];

export interface UnknownVariable {
  name: string;
  /** The known name it is closest to, when one is close. */
  didYouMean?: string;
}

// Prefixes only this gateway's variables use; an unknown name with one of them is a typo or a leftover.
const OUR_PREFIXES = ['TWILIO_', 'DEEPGRAM_', 'LIVEKIT_', 'LLM_', 'VAD_', 'AGENT_', 'STT_', 'TTS_', 'GROK_', 'CARTESIA_'];
// Shorter names (HOME, PATH, TERM) are too close to each other to guess at.
const MIN_TYPO_LENGTH = 6;

/** Names set in the environment or `.env` that look like ours (our prefix, or a near miss of a known name) but are not read. */
export function unknownVariables(present: readonly string[], read: ReadonlySet<string>): UnknownVariable[] {
  const known = [...read, ...RESERVED_VARIABLES];
  const knownSet = new Set(known);
  const unknown: UnknownVariable[] = [];
  for (const name of present) {
    if (knownSet.has(name)) continue;
    const maxDistance = name.length >= 10 ? 2 : 1;
    const didYouMean = name.length >= MIN_TYPO_LENGTH ? closestName(name, known, maxDistance) : undefined;
    if (didYouMean !== undefined) unknown.push({ name, didYouMean });
    else if (OUR_PREFIXES.some((prefix) => name.startsWith(prefix))) unknown.push({ name });
  }
  return unknown;
}
