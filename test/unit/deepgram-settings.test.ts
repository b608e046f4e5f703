import { expect } from 'chai';
import { loadConfig, type DeepgramConfig, type Env } from '../../src/config.js';
import type { CallContext } from '../../src/agents/bridge.js';
import { buildSettings, type SettingsOptions } from '../../src/agents/deepgram/settings.js';
import { AGENT_FUNCTIONS, agentFunctions, parseFunctionCall } from '../../src/agents/deepgram/tools.js';
import { parseServerMessage, toServerMessage } from '../../src/agents/deepgram/messages.js';
import { validateSettings } from '../../tools/fake-deepgram-agent.js';

/** The Deepgram part of a configuration parsed from these variables, as the gateway would. */
function deepgramConfig(env: Env = {}): DeepgramConfig {
  return loadConfig(env).deepgram;
}

function call(overrides: Partial<CallContext> = {}): CallContext {
  return {
    streamSid: 'MZ1',
    callSid: 'CA1',
    parameters: {},
    taskId: undefined,
    prompt: undefined,
    greeting: undefined,
    ...overrides,
  };
}

const OPTS: SettingsOptions = { systemPrompt: 'Be brief.', transferAvailable: false };

/** A copy of `value` with the field at a dotted path set (or deleted when `to` is undefined). */
function withField(value: object, path: string, to: unknown): object {
  const copy = structuredClone(value) as Record<string, unknown>;
  const keys = path.split('.');
  let node = copy;
  for (const key of keys.slice(0, -1)) node = node[key] as Record<string, unknown>;
  const last = keys[keys.length - 1]!;
  if (to === undefined) delete node[last];
  else node[last] = to;
  return copy;
}

/** Every path in a JSON value whose value is null or undefined. */
function emptyFields(value: unknown, at = ''): string[] {
  if (value === null || value === undefined) return [at];
  if (typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => emptyFields(v, `${at}.${k}`));
}

describe('Deepgram Settings', () => {
  const defaults = buildSettings(deepgramConfig(), call(), OPTS);

  it('builds the whole message from the default configuration', () => {
    expect(defaults).to.deep.equal({
      type: 'Settings',
      tags: ['twilio'],
      flags: { history: true },
      audio: {
        input: { encoding: 'mulaw', sample_rate: 8000 },
        output: { encoding: 'mulaw', sample_rate: 8000, container: 'none' },
      },
      agent: {
        listen: { provider: { type: 'deepgram', version: 'v1', model: 'nova-3' } },
        think: {
          provider: { type: 'open_ai', model: 'gpt-4o-mini' },
          prompt: 'Be brief.',
          functions: agentFunctions({ transferAvailable: false }),
        },
        speak: { provider: { type: 'deepgram', model: 'aura-2-thalia-en' } },
      },
    });
    expect(validateSettings(defaults)).to.equal(undefined);
  });

  const cases: { env: Env; path: string; value: unknown }[] = [
    { env: { DEEPGRAM_VOICE_AGENT_LISTEN_MODEL: 'nova-2' }, path: 'agent.listen.provider.model', value: 'nova-2' },
    { env: { DEEPGRAM_VOICE_AGENT_SPEAK_MODEL: 'aura-2-apollo-en' }, path: 'agent.speak.provider.model', value: 'aura-2-apollo-en' },
    { env: { DEEPGRAM_VOICE_AGENT_THINK_PROVIDER: 'openai' }, path: 'agent.think.provider.type', value: 'open_ai' },
    { env: { DEEPGRAM_VOICE_AGENT_THINK_PROVIDER: 'anthropic' }, path: 'agent.think.provider.type', value: 'anthropic' },
    { env: { DEEPGRAM_VOICE_AGENT_THINK_PROVIDER: 'google' }, path: 'agent.think.provider.type', value: 'google' },
    { env: { DEEPGRAM_VOICE_AGENT_THINK_PROVIDER: 'groq' }, path: 'agent.think.provider.type', value: 'groq' },
    { env: { DEEPGRAM_VOICE_AGENT_THINK_MODEL: 'gpt-4.1' }, path: 'agent.think.provider.model', value: 'gpt-4.1' },
    { env: { DEEPGRAM_VOICE_AGENT_THINK_TEMPERATURE: '0.3' }, path: 'agent.think.provider.temperature', value: 0.3 },
    { env: { DEEPGRAM_VOICE_AGENT_THINK_TEMPERATURE: '0' }, path: 'agent.think.provider.temperature', value: 0 },
    {
      env: { DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_URL: 'https://llm.example.com/v1/chat/completions' },
      path: 'agent.think.endpoint',
      value: { url: 'https://llm.example.com/v1/chat/completions', headers: {} },
    },
    {
      env: {
        DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_URL: 'https://llm.example.com/v1',
        DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: '{"authorization":"Bearer x"}',
      },
      path: 'agent.think.endpoint',
      value: { url: 'https://llm.example.com/v1', headers: { authorization: 'Bearer x' } },
    },
    { env: { DEEPGRAM_VOICE_AGENT_GREETING: 'Hello there!' }, path: 'agent.greeting', value: 'Hello there!' },
  ];

  for (const { env, path, value } of cases) {
    it(`${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')} sets ${path} and nothing else`, () => {
      const settings = buildSettings(deepgramConfig(env), call(), OPTS);
      expect(settings).to.deep.equal(withField(defaults, path, value));
      expect(validateSettings(settings)).to.equal(undefined);
    });
  }

  it('leaves the Settings alone for variables that belong to the connection or are incomplete', () => {
    const env: Env = {
      DEEPGRAM_API_KEY: 'secret-key',
      DEEPGRAM_VOICE_AGENT_ENABLED: 'true',
      DEEPGRAM_VOICE_AGENT_WS_URL: 'wss://agent.example.com/v1/agent/converse',
      // Headers without a URL have nowhere to go.
      DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: '{"authorization":"Bearer x"}',
    };
    const settings = buildSettings(deepgramConfig(env), call(), OPTS);
    expect(settings).to.deep.equal(defaults);
    expect(JSON.stringify(settings)).not.to.contain('secret-key');
  });

  it('puts the think endpoint beside the provider, never inside it', () => {
    const cfg = deepgramConfig({ DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_URL: 'https://llm.example.com/v1' });
    const think = buildSettings(cfg, call(), OPTS).agent.think;
    expect(think.endpoint?.url).to.equal('https://llm.example.com/v1');
    expect(think.provider).to.have.all.keys('type', 'model');
  });

  it('omits unset fields entirely instead of sending null or undefined', () => {
    expect(emptyFields(defaults)).to.deep.equal([]);
    expect(defaults.agent).not.to.have.any.keys('greeting', 'context');
    expect(defaults.agent.think).not.to.have.any.keys('endpoint');
    expect(defaults.agent.think.provider).not.to.have.any.keys('temperature');
  });

  it('uses the per-call prompt and greeting over the configured ones', () => {
    const cfg = deepgramConfig({ DEEPGRAM_VOICE_AGENT_GREETING: 'Configured hello' });
    const settings = buildSettings(cfg, call({ prompt: 'Sell flights.', greeting: 'Hi from the task' }), OPTS);
    expect(settings.agent.think.prompt).to.equal('Sell flights.');
    expect(settings.agent.greeting).to.equal('Hi from the task');
  });

  it('falls back to the configured prompt and greeting when the call brings blank ones', () => {
    const cfg = deepgramConfig({ DEEPGRAM_VOICE_AGENT_GREETING: 'Configured hello' });
    const settings = buildSettings(cfg, call({ prompt: '  ', greeting: '' }), OPTS);
    expect(settings.agent.think.prompt).to.equal('Be brief.');
    expect(settings.agent.greeting).to.equal('Configured hello');
  });

  it('offers transfer_call only when a transfer is possible', () => {
    const names = (transferAvailable: boolean): string[] =>
      (buildSettings(deepgramConfig(), call(), { ...OPTS, transferAvailable }).agent.think.functions ?? []).map((f) => f.name);
    expect(names(false)).to.deep.equal(['end_call']);
    expect(names(true)).to.deep.equal(['end_call', 'transfer_call']);
  });

  it('seeds the history into context.messages and does not greet again', () => {
    const cfg = deepgramConfig({ DEEPGRAM_VOICE_AGENT_GREETING: 'Configured hello' });
    const history = [
      { role: 'assistant' as const, content: 'Configured hello' },
      { role: 'user' as const, content: 'Book me a flight.' },
    ];
    const settings = buildSettings(cfg, call(), { ...OPTS, history });
    expect(settings.agent.context).to.deep.equal({
      messages: [
        { type: 'History', role: 'assistant', content: 'Configured hello' },
        { type: 'History', role: 'user', content: 'Book me a flight.' },
      ],
    });
    expect(settings.agent).not.to.have.property('greeting');
    expect(validateSettings(settings)).to.equal(undefined);
  });

  it('treats an empty history as a fresh session', () => {
    const cfg = deepgramConfig({ DEEPGRAM_VOICE_AGENT_GREETING: 'Configured hello' });
    const settings = buildSettings(cfg, call(), { ...OPTS, history: [] });
    expect(settings.agent).not.to.have.property('context');
    expect(settings.agent.greeting).to.equal('Configured hello');
  });
});

describe('Deepgram agent functions', () => {
  it('declares client-side functions: no endpoint, no client_side flag', () => {
    expect(AGENT_FUNCTIONS.map((f) => f.name)).to.deep.equal(['end_call', 'transfer_call']);
    for (const fn of AGENT_FUNCTIONS) {
      expect(fn).to.have.all.keys('name', 'description', 'parameters');
      expect(fn.parameters.type).to.equal('object');
      expect(fn.parameters.properties.reason?.type).to.equal('string');
    }
    expect(AGENT_FUNCTIONS[0]!.description.toLowerCase()).to.contain('goodbye');
  });

  const cases: { name: string; args: string; expected: ReturnType<typeof parseFunctionCall> }[] = [
    { name: 'end_call', args: '{"reason":"caller is done"}', expected: { tool: 'end_call', reason: 'caller is done' } },
    { name: 'end_call', args: '{}', expected: { tool: 'end_call', reason: undefined } },
    { name: 'end_call', args: '', expected: { tool: 'end_call', reason: undefined } },
    { name: 'end_call', args: '{"reason":null}', expected: { tool: 'end_call', reason: undefined } },
    { name: 'end_call', args: '{"reason":"bye","extra":1}', expected: { tool: 'end_call', reason: 'bye' } },
    { name: 'transfer_call', args: '{"reason":"wants a human"}', expected: { tool: 'transfer_call', reason: 'wants a human' } },
    { name: 'transfer_call', args: '{}', expected: { tool: 'transfer_call', reason: undefined } },
    { name: 'book_flight', args: '{}', expected: { error: 'unknown function "book_flight"' } },
    { name: 'toString', args: '{}', expected: { error: 'unknown function "toString"' } },
    { name: 'end_call', args: '{"reason":', expected: { error: 'arguments of "end_call" are not valid JSON' } },
    { name: 'end_call', args: '["bye"]', expected: { error: 'arguments of "end_call" must be a JSON object' } },
    { name: 'end_call', args: 'null', expected: { error: 'arguments of "end_call" must be a JSON object' } },
    { name: 'transfer_call', args: '{"reason":42}', expected: { error: '"reason" must be a string' } },
  ];
  for (const { name, args, expected } of cases) {
    it(`parses ${name}(${args || '<empty>'})`, () => {
      expect(parseFunctionCall(name, args)).to.deep.equal(expected);
    });
  }
});

describe('Deepgram server messages', () => {
  it('returns undefined for text that is not a JSON object with a type', () => {
    for (const text of ['not json', '', '[1,2]', '"Welcome"', '{"request_id":"x"}', '{"type":7}']) {
      expect(parseServerMessage(text), text).to.equal(undefined);
    }
  });

  it('types the messages it knows', () => {
    expect(parseServerMessage('{"type":"Welcome","request_id":"r1"}')).to.deep.equal({ type: 'Welcome', request_id: 'r1' });
    expect(parseServerMessage('{"type":"UserStartedSpeaking"}')).to.deep.equal({ type: 'UserStartedSpeaking' });
    const request = parseServerMessage(
      '{"type":"FunctionCallRequest","functions":[{"id":"f1","name":"end_call","arguments":"{}","client_side":true}]}',
    );
    expect(request?.type).to.equal('FunctionCallRequest');
    const error = toServerMessage({ type: 'Error', code: 'CLIENT_MESSAGE_TIMEOUT', description: 'idle' });
    expect(error).to.deep.equal({ type: 'Error', code: 'CLIENT_MESSAGE_TIMEOUT', description: 'idle' });
    expect(toServerMessage({ type: 'History', function_calls: [] })?.type).to.equal('History');
  });

  it('keeps unknown types and malformed known ones as Unknown', () => {
    expect(parseServerMessage('{"type":"Brand New","x":1}')).to.deep.equal({ type: 'Unknown', raw: { type: 'Brand New', x: 1 } });
    for (const raw of [
      { type: 'ConversationText', role: 'system', content: 'x' },
      { type: 'ConversationText', role: 'user' },
      { type: 'FunctionCallRequest', functions: [{ id: 'f1', name: 'end_call' }] },
      { type: 'Error', description: 'no code' },
      { type: 'History' },
    ]) {
      expect(toServerMessage(raw), JSON.stringify(raw)).to.deep.equal({ type: 'Unknown', raw });
    }
  });
});
