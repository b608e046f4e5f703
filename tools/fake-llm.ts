// A stand-in for an OpenAI-compatible LLM server (LLM_PROVIDER=local): every chat completion is a
// fixed, well-formed call analysis, so the post-call analysis can be tried without an API key.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export const FAKE_LLM_MODEL = 'fake-analyst';

const ANALYSIS = {
  summary: 'A simulated call answered by the fake Deepgram agent (npm run fake-agent); no real LLM was asked.',
  outcome: { goal_reached: null, explanation: 'The fake analyst does not read the transcript.' },
  sentiment: 'neutral',
  action_items: ['Set LLM_PROVIDER and its key for a real analysis.'],
  key_facts: { analyst: FAKE_LLM_MODEL },
};

export interface FakeLlm {
  /** The base URL to give as VLLM_BASE_URL, e.g. http://127.0.0.1:PORT/v1. */
  readonly baseUrl: string;
  /** Chat completions answered so far. */
  readonly requests: number;
  close(): Promise<void>;
}

export async function startFakeLlm(port = 0): Promise<FakeLlm> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') return void res.writeHead(404).end();
    req.resume();
    req.on('end', () => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion(requests)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${bound}/v1`,
    get requests() {
      return requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A chat completion in OpenAI's wire shape. */
function completion(n: number) {
  return {
    id: `chatcmpl-fake-${n}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: FAKE_LLM_MODEL,
    choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: JSON.stringify(ANALYSIS) } }],
    usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 },
  };
}
