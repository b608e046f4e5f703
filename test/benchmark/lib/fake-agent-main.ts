// The relay benchmark's fake Deepgram Voice Agent (echo mode: every audio frame is sent straight
// back) in a process of its own, so its socket work never runs on the load generator's event loop
// and its CPU is measured apart. Prints one line, {"url":"ws://127.0.0.1:PORT"}, once it listens.
// Exits on SIGTERM, when its stdin closes (the benchmark is gone, however it died), and after
// BENCH_FAKE_MAX_S seconds at the latest.
import { FakeDeepgramAgent } from '../../../tools/fake-deepgram-agent.js';

const DEFAULT_MAX_S = 900;
const CLOSE_TIMEOUT_MS = 2000;

const maxS = Number(process.env.BENCH_FAKE_MAX_S ?? DEFAULT_MAX_S);
const apiKey = process.env.DEEPGRAM_API_KEY;

// With a key, a relay that forgets `Authorization: Token <key>` is refused, as Deepgram would.
const agent = await FakeDeepgramAgent.start({ mode: 'echo', requireAuth: apiKey ? `Token ${apiKey}` : undefined });
let closing = false;

async function shutDown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  // Closing drops every session; a socket that will not close must not keep the process alive.
  setTimeout(() => process.exit(code), CLOSE_TIMEOUT_MS).unref();
  await agent.close().catch(() => undefined);
  process.exit(code);
}

process.on('SIGTERM', () => void shutDown(0));
process.on('SIGINT', () => void shutDown(0));
process.stdin.on('close', () => void shutDown(0));
process.stdin.resume();
const lifetime = Number.isFinite(maxS) && maxS > 0 ? maxS : DEFAULT_MAX_S;
setTimeout(() => {
  process.stderr.write(`fake agent: still running after ${lifetime} s; exiting\n`);
  void shutDown(1);
}, lifetime * 1000).unref();
process.stdout.write(`${JSON.stringify({ url: agent.url })}\n`);
