// The agent dispatcher against a LiveKit that cannot be reached: a real refused connection on
// 127.0.0.1 (nock's replyWithError leaves fetch hanging until its timeout).
import { createServer } from 'node:net';
import { expect } from 'chai';
import { LiveKitDispatcher, LiveKitError } from '../../src/rooms/dispatch.js';

const SECRET = 'dispatch-test-secret-long-enough-for-hs256';

async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('rooms: the agent dispatcher', () => {
  it('reports an unreachable LiveKit as a LiveKitError naming the host and the cause, never the secret', async () => {
    const port = await refusedPort();
    const dispatcher = new LiveKitDispatcher({ url: `ws://127.0.0.1:${port}`, apiKey: 'APIkey', apiSecret: SECRET }, 'voice-agent');
    for (const attempt of [() => dispatcher.dispatch('room-1', '{}'), () => dispatcher.cancel('room-1', 'AD_1')]) {
      const error = await attempt().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).to.be.instanceOf(LiveKitError);
      expect((error as LiveKitError).status).to.equal(undefined);
      expect((error as Error).message).to.match(new RegExp(`^could not (create|delete) the agent dispatch: LiveKit at 127\\.0\\.0\\.1:${port} could not be reached \\(ECONNREFUSED\\)$`));
      expect((error as Error).message).not.to.contain(SECRET);
    }
  });
});
