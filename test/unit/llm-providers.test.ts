// Each provider's HTTP API mocked with nock in its real wire shape; the official SDKs do the talking.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import nock from 'nock';
import { createLlmClient, LlmError } from '../../src/llm/index.js';
import type { LlmConfig, LlmProvider, LlmRequest } from '../../src/llm/index.js';

const OPENAI_KEY = 'sk-test-openai-0123456789abcdef';
const ANTHROPIC_KEY = 'sk-ant-test-0123456789abcdef';
const GROQ_KEY = 'gsk_test_0123456789abcdef';
const VLLM_BASE_URL = 'http://vllm.internal:8000/v1';
const VLLM_MODEL = 'Qwen/Qwen2.5-7B-Instruct';
const JSON_LINE = 'Reply with a single JSON object and nothing else: no prose, no code fence.';

interface ProviderCase {
  provider: LlmProvider;
  config: LlmConfig;
  origin: string;
  path: string;
  key: string | undefined;
  /** A successful response in the provider's wire shape. */
  ok(text: string, options?: { truncated?: boolean }): object;
  /** A 200 response that carries no text. */
  empty(): object;
  /** An error body in the provider's wire shape. */
  error(message: string): object;
}

function chatCompletion(model: string, content: string | null, finish = 'stop'): object {
  return {
    id: 'chatcmpl-AbC123',
    object: 'chat.completion',
    created: 1_736_000_000,
    model,
    choices: [
      { index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: finish },
    ],
    usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 },
    system_fingerprint: 'fp_0123456789',
  };
}

function openAiError(message: string): object {
  return { error: { message, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } };
}

function anthropicMessage(content: object[], stop = 'end_turn'): object {
  return {
    id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
    type: 'message',
    role: 'assistant',
    model: 'claude-haiku-4-5-20251001',
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: { input_tokens: 20, output_tokens: 5 },
  };
}

const CASES: ProviderCase[] = [
  {
    provider: 'openai',
    config: { provider: 'openai', openaiApiKey: OPENAI_KEY },
    origin: 'https://api.openai.com',
    path: '/v1/chat/completions',
    key: OPENAI_KEY,
    ok: (text, o) => chatCompletion('gpt-4o-mini-2024-07-18', text, o?.truncated ? 'length' : 'stop'),
    empty: () => chatCompletion('gpt-4o-mini-2024-07-18', null),
    error: openAiError,
  },
  {
    provider: 'anthropic',
    config: { provider: 'anthropic', anthropicApiKey: ANTHROPIC_KEY },
    origin: 'https://api.anthropic.com',
    path: '/v1/messages',
    key: ANTHROPIC_KEY,
    ok: (text, o) => anthropicMessage([{ type: 'text', text }], o?.truncated ? 'max_tokens' : 'end_turn'),
    empty: () => anthropicMessage([], 'refusal'),
    error: (message) => ({ type: 'error', error: { type: 'authentication_error', message }, request_id: 'req_011' }),
  },
  {
    provider: 'groq',
    config: { provider: 'groq', groqApiKey: GROQ_KEY },
    origin: 'https://api.groq.com',
    path: '/openai/v1/chat/completions',
    key: GROQ_KEY,
    ok: (text, o) => ({
      ...chatCompletion('llama-3.1-8b-instant', text, o?.truncated ? 'length' : 'stop'),
      x_groq: { id: 'req_01jabc' },
    }),
    empty: () => chatCompletion('llama-3.1-8b-instant', null),
    error: openAiError,
  },
  {
    provider: 'local',
    config: { provider: 'local', vllmBaseUrl: VLLM_BASE_URL, vllmModel: VLLM_MODEL },
    origin: 'http://vllm.internal:8000',
    path: '/v1/chat/completions',
    key: undefined,
    ok: (text, o) => chatCompletion(VLLM_MODEL, text, o?.truncated ? 'length' : 'stop'),
    empty: () => chatCompletion(VLLM_MODEL, null),
    error: (message) => ({ object: 'error', message, type: 'BadRequestError', param: null, code: 401 }),
  },
];

const CONVERSATION: LlmRequest = {
  system: 'Be brief.',
  messages: [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'Say ok as JSON' },
  ],
  json: true,
  maxTokens: 200,
  temperature: 0,
};

const HI: LlmRequest = { messages: [{ role: 'user', content: 'hi' }] };

describe('LLM clients', () => {
  before(() => nock.disableNetConnect());
  after(() => nock.enableNetConnect());
  afterEach(() => {
    // Drop timers of delayed replies so a stalled body cannot finish after its test.
    nock.abortPendingRequests();
    nock.cleanAll();
  });

  describe('wire shape of each provider', () => {
    it('openai: POST /v1/chat/completions with a bearer key, JSON mode and max_completion_tokens', async () => {
      let body: unknown;
      const scope = nock('https://api.openai.com')
        .matchHeader('authorization', `Bearer ${OPENAI_KEY}`)
        .post('/v1/chat/completions', (b) => ((body = b), true))
        .reply(200, chatCompletion('gpt-4o-mini-2024-07-18', '{"ok":true}'));

      const reply = await createLlmClient({ provider: 'openai', openaiApiKey: OPENAI_KEY }).complete(CONVERSATION);

      expect(reply).to.deep.equal({ text: '{"ok":true}', model: 'gpt-4o-mini-2024-07-18' });
      expect(body).to.deep.equal({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: `Be brief.\n\n${JSON_LINE}` },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'Say ok as JSON' },
        ],
        max_completion_tokens: 200,
        temperature: 0,
        response_format: { type: 'json_object' },
      });
      scope.done();
    });

    it('anthropic: POST /v1/messages with the key, anthropic-version, and system as a field', async () => {
      let body: unknown;
      // @anthropic-ai/sdk 1.12 sends the API key as a bearer token, no longer as x-api-key.
      const scope = nock('https://api.anthropic.com', { badheaders: ['x-api-key'] })
        .matchHeader('authorization', `Bearer ${ANTHROPIC_KEY}`)
        .matchHeader('anthropic-version', /^\d{4}-\d{2}-\d{2}$/)
        .post('/v1/messages', (b) => ((body = b), true))
        .reply(200, anthropicMessage([{ type: 'text', text: '{"ok":true}' }]));

      const client = createLlmClient({ provider: 'anthropic', anthropicApiKey: ANTHROPIC_KEY });
      const reply = await client.complete(CONVERSATION);

      expect(reply).to.deep.equal({ text: '{"ok":true}', model: 'claude-haiku-4-5-20251001' });
      expect(body).to.deep.equal({
        model: 'claude-haiku-4-5',
        max_tokens: 200,
        system: `Be brief.\n\n${JSON_LINE}`,
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'Say ok as JSON' },
        ],
        temperature: 0,
      });
      scope.done();
    });

    it('anthropic: joins the text blocks and skips the others', async () => {
      nock('https://api.anthropic.com')
        .post('/v1/messages')
        .reply(200, anthropicMessage([
          { type: 'thinking', thinking: 'hmm', signature: 'sig' },
          { type: 'text', text: 'Hello' },
          { type: 'text', text: ' there' },
        ]));
      const reply = await createLlmClient({ provider: 'anthropic', anthropicApiKey: ANTHROPIC_KEY }).complete(HI);
      expect(reply.text).to.equal('Hello there');
    });

    it('groq: POST /openai/v1/chat/completions with a bearer key', async () => {
      let body: unknown;
      const scope = nock('https://api.groq.com')
        .matchHeader('authorization', `Bearer ${GROQ_KEY}`)
        .post('/openai/v1/chat/completions', (b) => ((body = b), true))
        .reply(200, { ...chatCompletion('llama-3.1-8b-instant', 'ok'), x_groq: { id: 'req_01jabc' } });

      const reply = await createLlmClient({ provider: 'groq', groqApiKey: GROQ_KEY }).complete(HI);

      expect(reply).to.deep.equal({ text: 'ok', model: 'llama-3.1-8b-instant' });
      expect(body).to.deep.equal({
        model: 'llama-3.1-8b-instant',
        messages: [{ role: 'user', content: 'hi' }],
        max_completion_tokens: 1024,
      });
      scope.done();
    });

    it('local: POST {VLLM_BASE_URL}/chat/completions with VLLM_MODEL, max_tokens and a placeholder key', async () => {
      let body: unknown;
      const scope = nock('http://vllm.internal:8000')
        .matchHeader('authorization', 'Bearer not-needed')
        .post('/v1/chat/completions', (b) => ((body = b), true))
        .reply(200, chatCompletion(VLLM_MODEL, '{"ok":true}'));

      const client = createLlmClient({ provider: 'local', vllmBaseUrl: VLLM_BASE_URL, vllmModel: VLLM_MODEL });
      const reply = await client.complete({ ...HI, json: true });

      expect(reply).to.deep.equal({ text: '{"ok":true}', model: VLLM_MODEL });
      expect(body).to.deep.equal({
        model: VLLM_MODEL,
        messages: [
          { role: 'system', content: JSON_LINE },
          { role: 'user', content: 'hi' },
        ],
        max_tokens: 1024,
        response_format: { type: 'json_object' },
      });
      scope.done();
    });

    it('local: sends the vLLM API key when one is configured', async () => {
      const scope = nock('http://vllm.internal:8000')
        .matchHeader('authorization', 'Bearer vllm-secret')
        .post('/v1/chat/completions')
        .reply(200, chatCompletion(VLLM_MODEL, 'ok'));
      const config: LlmConfig = { provider: 'local', vllmBaseUrl: VLLM_BASE_URL, vllmModel: VLLM_MODEL, vllmApiKey: 'vllm-secret' };
      await createLlmClient(config).complete(HI);
      scope.done();
    });

    it('uses the configured model and base URL, never the SDK environment variables', async () => {
      const saved = process.env.OPENAI_BASE_URL;
      process.env.OPENAI_BASE_URL = 'http://must-not-be-used.invalid/v1';
      try {
        const scope = nock('http://proxy.internal')
          .post('/v1/chat/completions', (b: { model?: string }) => b.model === 'gpt-4.1-nano')
          .reply(200, chatCompletion('gpt-4.1-nano', 'ok'));
        const client = createLlmClient({
          provider: 'openai',
          openaiApiKey: OPENAI_KEY,
          model: 'gpt-4.1-nano',
          baseUrls: { openai: 'http://proxy.internal/v1' },
        });
        expect(await client.complete(HI)).to.deep.equal({ text: 'ok', model: 'gpt-4.1-nano' });
        scope.done();
      } finally {
        if (saved === undefined) delete process.env.OPENAI_BASE_URL;
        else process.env.OPENAI_BASE_URL = saved;
      }
    });
  });

  for (const c of CASES) {
    describe(`${c.provider}: failures`, () => {
      const client = (overrides: Partial<LlmConfig> = {}) => createLlmClient({ ...c.config, ...overrides });

      it('retries a 503 and returns the answer that follows', async () => {
        const scope = nock(c.origin)
          .post(c.path)
          .reply(503, c.error('The server is overloaded'))
          .post(c.path)
          .reply(200, c.ok('recovered'));
        expect((await client().complete(HI)).text).to.equal('recovered');
        scope.done();
      });

      it('gives up after maxRetries with an upstream error carrying the status', async () => {
        const scope = nock(c.origin).post(c.path).times(2).reply(503, c.error('The server is overloaded'));
        const error = await failure(client({ maxRetries: 1 }).complete(HI));
        expect(error).to.include({ kind: 'upstream', status: 503, provider: c.provider });
        expect(error.message).to.match(new RegExp(`^${c.provider} request failed with HTTP 503`));
        scope.done();
      });

      it('does not retry a 401, and never puts the key in the message', async () => {
        const echoed = `Incorrect API key provided: ${c.key ?? 'none'}`;
        const scope = nock(c.origin).post(c.path).once().reply(401, c.error(echoed));
        const error = await failure(client().complete(HI));
        expect(error).to.include({ kind: 'upstream', status: 401 });
        if (c.key) {
          expect(error.message).not.to.include(c.key);
          expect(error.message).to.include('Incorrect API key provided: [redacted]');
        }
        scope.done();
      });

      it('turns missing response headers into a timeout, after retrying', async () => {
        const slow = async () => {
          await new Promise((resolve) => setTimeout(resolve, 5_000));
          return [200, c.ok('too late')] as [number, object];
        };
        const scope = nock(c.origin).post(c.path).times(2).reply(slow);
        const started = Date.now();
        const error = await failure(client({ timeoutMs: 100, maxRetries: 1 }).complete(HI));
        expect(error).to.include({ kind: 'timeout', provider: c.provider });
        expect(error.message).to.equal(`${c.provider} did not answer within 100 ms (2 attempt(s))`);
        // Well before the 5 s answer, with room for retry back-off on a loaded machine.
        expect(Date.now() - started).to.be.below(4_000);
        scope.done();
      });

      it('turns a body that stalls after the headers into a timeout at the whole-call deadline', async () => {
        // nock 15's .delay() delays only the body, which the SDK timeout does not cover; aborting
        // such a mocked body trips an undici assertion in the interceptor's fake socket, so a
        // real local server plays the stalling provider here.
        const server = await stallingServer();
        nock.enableNetConnect('127.0.0.1');
        try {
          const origin = `http://127.0.0.1:${server.port}`;
          const overrides: Partial<LlmConfig> =
            c.provider === 'local'
              ? { vllmBaseUrl: `${origin}/v1` }
              : { baseUrls: { [c.provider]: c.provider === 'openai' ? `${origin}/v1` : origin } };
          const started = Date.now();
          const error = await failure(client({ ...overrides, timeoutMs: 100, maxRetries: 0 }).complete(HI));
          expect(error).to.include({ kind: 'timeout', provider: c.provider });
          expect(error.message).to.equal(`${c.provider} did not finish within 1100 ms`);
          // At the whole-call deadline, not the 100 ms header timeout; the upper bound is loose for a loaded machine.
          expect(Date.now() - started).to.be.within(1_000, 8_000);
          expect(server.requests).to.deep.equal([c.path]);
        } finally {
          nock.disableNetConnect();
          await server.close();
        }
      });

      it('reports an answer without text as bad_response', async () => {
        nock(c.origin).post(c.path).reply(200, c.empty());
        const error = await failure(client().complete(HI));
        expect(error).to.include({ kind: 'bad_response', provider: c.provider });
      });

      it('reports JSON cut off at the token limit as bad_response', async () => {
        nock(c.origin).post(c.path).reply(200, c.ok('{"summary": "The caller', { truncated: true }));
        const error = await failure(client().complete({ ...HI, json: true }));
        expect(error.kind).to.equal('bad_response');
        expect(error.message).to.match(/cut off at the token limit/);
      });
    });
  }

  describe('configuration', () => {
    const missing: [LlmConfig, string][] = [
      [{ provider: 'openai' }, 'LLM_PROVIDER=openai needs OPENAI_API_KEY'],
      [{ provider: 'anthropic', openaiApiKey: OPENAI_KEY }, 'LLM_PROVIDER=anthropic needs ANTHROPIC_API_KEY'],
      [{ provider: 'groq', groqApiKey: '  ' }, 'LLM_PROVIDER=groq needs GROQ_API_KEY'],
      [{ provider: 'local', vllmModel: VLLM_MODEL }, 'LLM_PROVIDER=local needs VLLM_BASE_URL'],
      [{ provider: 'local', vllmBaseUrl: VLLM_BASE_URL }, 'LLM_PROVIDER=local needs VLLM_MODEL'],
    ];
    for (const [config, message] of missing) {
      it(`refuses at creation: ${message}`, () => {
        expect(() => createLlmClient(config))
          .to.throw(LlmError, message)
          .with.property('kind', 'missing_key');
      });
    }

    it('refuses an unknown provider and bad limits', () => {
      expect(() => createLlmClient({ provider: 'grok' as LlmProvider })).to.throw(LlmError, /not one of/);
      expect(() => createLlmClient({ provider: 'openai', openaiApiKey: OPENAI_KEY, timeoutMs: 0 })).to.throw(RangeError);
      expect(() => createLlmClient({ provider: 'openai', openaiApiKey: OPENAI_KEY, maxRetries: 1.5 })).to.throw(RangeError);
    });
  });
});

async function failure(promise: Promise<unknown>): Promise<LlmError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(LlmError);
    return error as LlmError;
  }
  expect.fail('expected the request to fail');
}

/** Answers every request with 200 and the first bytes of a JSON body, then never finishes. */
async function stallingServer(): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"id":"chatcmpl-stalled",');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
