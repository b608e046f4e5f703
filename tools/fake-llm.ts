// A stand-in for an OpenAI-compatible LLM server (LLM_PROVIDER=local) that answers every chat
// completion with a fixed, well-formed call analysis, so the post-call analysis can be tried without
// an API key. It is the OpenAI stand-in (fake-providers/openai.ts) with that one reply.
import { FakeOpenAi } from './fake-providers/openai.js';

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
  const fake = await FakeOpenAi.start({ port, models: [FAKE_LLM_MODEL], defaultReply: { text: JSON.stringify(ANALYSIS) } });
  return {
    baseUrl: fake.baseUrl,
    get requests() {
      return fake.requestsTo('chat').length;
    },
    close: () => fake.close(),
  };
}
