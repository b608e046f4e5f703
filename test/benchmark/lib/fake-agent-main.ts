// The relay benchmark's fake Deepgram Voice Agent (echo mode: every audio frame is sent straight
// back) in a process of its own, so its socket work never runs on the load generator's event loop
// and its CPU is measured apart. Prints {"url":"ws://127.0.0.1:PORT"} once it listens; its life
// and exit are fake-process.ts's.
import { FakeDeepgramAgent } from '../../../tools/fake-deepgram-agent.js';
import { serveUntilTold } from './fake-process.js';

const apiKey = process.env.DEEPGRAM_API_KEY;
// With a key, a relay that forgets `Authorization: Token <key>` is refused, as Deepgram would.
const agent = await FakeDeepgramAgent.start({ mode: 'echo', requireAuth: apiKey ? `Token ${apiKey}` : undefined });
serveUntilTold({ what: 'fake agent', close: () => agent.close(), ready: { url: agent.url } });
