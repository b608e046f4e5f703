// The LiveKit server the rooms talk to: present only when LIVEKIT_URL, LIVEKIT_API_KEY and
// LIVEKIT_API_SECRET are all set (loadConfig refuses a partial set).
import type { LiveKitConfig } from '../config.js';

export interface LiveKitServer {
  /** ws(s):// or http(s)://: browsers get it as given; the server SDK turns ws into http itself. */
  url: string;
  apiKey: string;
  /** Signs every token and API call; never logged, never in a reply. */
  apiSecret: string;
}

export function liveKitServer(config: LiveKitConfig): LiveKitServer | undefined {
  const { url, apiKey, apiSecret } = config;
  return url && apiKey && apiSecret ? { url, apiKey, apiSecret } : undefined;
}
