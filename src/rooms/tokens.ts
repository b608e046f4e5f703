// GET /token's tokens: a LiveKit access token for one identity in one room, allowed to publish,
// subscribe and send data, for LIVEKIT_TOKEN_TTL; optionally carrying the agent's dispatch, so a
// browser that joins an empty room alone gets the agent without POST /session.
import { AccessToken, RoomAgentDispatch, RoomConfiguration } from 'livekit-server-sdk';
import type { LiveKitServer } from './livekit-server.js';
import type { TokenQuery, TokenResponse } from './schemas.js';

export interface TokenSettings {
  server: LiveKitServer;
  ttlS: number;
  agentName: string;
  /** LIVEKIT_TOKEN_AGENT_DISPATCH. */
  dispatchAgent: boolean;
}

export async function mintRoomToken(settings: TokenSettings, request: TokenQuery): Promise<TokenResponse> {
  const { server } = settings;
  const token = new AccessToken(server.apiKey, server.apiSecret, {
    identity: request.identity,
    ...(request.name !== undefined && { name: request.name }),
    ttl: settings.ttlS,
  });
  token.addGrant({ roomJoin: true, room: request.room, canPublish: true, canSubscribe: true, canPublishData: true });
  if (settings.dispatchAgent) {
    token.roomConfig = new RoomConfiguration({ agents: [new RoomAgentDispatch({ agentName: settings.agentName })] });
  }
  const jwt = await token.toJwt();
  return { token: jwt, url: server.url, room: request.room, identity: request.identity, expires_at: expiryOf(jwt) };
}

/** The token's own `exp`, so the reply says exactly when LiveKit stops admitting it. */
function expiryOf(jwt: string): string {
  const payload = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
  if (typeof payload.exp !== 'number') throw new Error('the minted token has no expiry');
  return new Date(payload.exp * 1000).toISOString();
}
