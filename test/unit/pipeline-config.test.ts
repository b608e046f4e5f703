// The LiveKit pipeline's configuration: the providers chosen, the order they are tried in, and the
// start-up problems that name each key a chosen provider is missing.
import { expect } from 'chai';
import { ConfigError, loadConfig, pipelineProblems, providerOrder, type Env } from '../../src/config.js';

function problemsAtStart(env: Env): { variable: string; problem: string }[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  return [];
}

const ALL_KEYS = { DEEPGRAM_API_KEY: 'd', GROK_API_KEY: 'g', OPENAI_API_KEY: 'o', CARTESIA_API_KEY: 'c' };

describe('LiveKit pipeline configuration', () => {
  it('defaults to Deepgram STT, Grok then OpenAI, Cartesia TTS, at the providers\' own URLs', () => {
    const { pipeline } = loadConfig({});
    expect(pipeline).to.deep.include({ stt: 'deepgram', llm: 'grok', tts: 'cartesia' });
    expect(pipeline.openai).to.deep.include({ baseUrl: 'https://api.openai.com/v1', ttsVoice: 'alloy' });
    expect(pipeline.grok.baseUrl).to.equal('https://api.x.ai/v1');
    expect(pipeline.deepgram).to.deep.include({ sttUrl: 'wss://api.deepgram.com', sttModel: 'nova-3' });
    expect(pipeline.cartesia).to.deep.include({ baseUrl: 'https://api.cartesia.ai', model: 'sonic-3', voice: undefined });
  });

  it('tries the chosen provider first, then each other one whose key is set', () => {
    expect(providerOrder(loadConfig(ALL_KEYS).pipeline)).to.deep.equal({
      stt: ['deepgram', 'openai'],
      llm: ['grok', 'openai'],
      tts: ['cartesia', 'openai'],
    });
    const openaiFirst = loadConfig({ ...ALL_KEYS, STT_PROVIDER: 'openai', TTS_PROVIDER: 'openai' }).pipeline;
    expect(providerOrder(openaiFirst)).to.deep.include({ stt: ['openai', 'deepgram'], tts: ['openai'] });
    const noOpenAi = loadConfig({ ...ALL_KEYS, OPENAI_API_KEY: '' }).pipeline;
    expect(providerOrder(noOpenAi)).to.deep.equal({ stt: ['deepgram'], llm: ['grok'], tts: ['cartesia'] });
  });

  it('leaves Grok out when LLM_PROVIDER=openai, which also picks the analysis LLM', () => {
    const config = loadConfig({ ...ALL_KEYS, LLM_PROVIDER: 'openai' });
    expect(providerOrder(config.pipeline).llm).to.deep.equal(['openai']);
    expect(config.llm.provider).to.equal('openai');
    // Another analysis LLM leaves the pipeline's Grok-then-OpenAI order as it is.
    const anthropic = loadConfig({ ...ALL_KEYS, LLM_PROVIDER: 'anthropic' });
    expect(providerOrder(anthropic.pipeline).llm).to.deep.equal(['grok', 'openai']);
    expect(anthropic.llm.provider).to.equal('anthropic');
  });

  it('sends the analysis to OPENAI_BASE_URL too', () => {
    expect(loadConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:9/v1' }).llm.baseUrls?.openai).to.equal('http://127.0.0.1:9/v1');
  });

  it('reads TTS_VOICE as the chosen TTS provider\'s voice, and refuses a voice OpenAI does not have', () => {
    expect(loadConfig({ TTS_PROVIDER: 'openai', TTS_VOICE: 'Nova' }).pipeline.openai.ttsVoice).to.equal('nova');
    const cartesia = loadConfig({ TTS_VOICE: 'a0e99841-438c-4a64-b679-ae501e7d6091' }).pipeline;
    expect(cartesia.cartesia.voice).to.equal('a0e99841-438c-4a64-b679-ae501e7d6091');
    expect(cartesia.openai.ttsVoice).to.equal('alloy', 'the OpenAI fallback keeps its default voice');
    expect(problemsAtStart({ TTS_PROVIDER: 'openai', TTS_VOICE: 'thalia' })).to.deep.equal([
      { variable: 'TTS_VOICE', problem: 'expected an OpenAI voice when TTS_PROVIDER=openai: alloy, ash, ballad, coral, echo, fable, nova, onyx, sage, shimmer, got "thalia"' },
    ]);
  });

  it('refuses a provider it does not know and a URL of the wrong scheme', () => {
    const problems = problemsAtStart({ STT_PROVIDER: 'whisper', TTS_PROVIDER: 'deepgram', DEEPGRAM_STT_URL: 'https://api.deepgram.com', GROK_BASE_URL: 'not a url' });
    expect(problems.map((p) => p.variable)).to.deep.equal(['STT_PROVIDER', 'TTS_PROVIDER', 'GROK_BASE_URL', 'DEEPGRAM_STT_URL']);
    expect(problems[1]?.problem).to.equal('expected one of cartesia, openai, got "deepgram"');
  });

  describe('keys, when AGENT_PROVIDER=livekit', () => {
    it('names every key the chosen providers are missing, with every other problem', () => {
      expect(problemsAtStart({ AGENT_PROVIDER: 'livekit', PORT: 'x' })).to.deep.equal([
        { variable: 'DEEPGRAM_API_KEY', problem: 'is required when AGENT_PROVIDER=livekit, for STT_PROVIDER=deepgram (speech-to-text)' },
        { variable: 'GROK_API_KEY', problem: 'is required when AGENT_PROVIDER=livekit, for the LLM, Grok (set LLM_PROVIDER=openai to use OpenAI alone)' },
        { variable: 'CARTESIA_API_KEY', problem: 'is required when AGENT_PROVIDER=livekit, for TTS_PROVIDER=cartesia (text-to-speech)' },
        { variable: 'PORT', problem: 'expected a number, got "x"' },
      ]);
    });

    it('names OPENAI_API_KEY once for every choice that needs it', () => {
      const env = { AGENT_PROVIDER: 'livekit', STT_PROVIDER: 'openai', LLM_PROVIDER: 'openai', TTS_PROVIDER: 'openai' };
      expect(problemsAtStart(env)).to.deep.equal([
        {
          variable: 'OPENAI_API_KEY',
          problem:
            'is required when AGENT_PROVIDER=livekit, for STT_PROVIDER=openai (speech-to-text) and LLM_PROVIDER=openai (the LLM) and TTS_PROVIDER=openai (text-to-speech)',
        },
      ]);
      expect(problemsAtStart({ ...env, OPENAI_API_KEY: 'o' })).to.deep.equal([]);
    });

    it('does not ask for a fallback\'s key', () => {
      expect(problemsAtStart({ AGENT_PROVIDER: 'livekit', DEEPGRAM_API_KEY: 'd', GROK_API_KEY: 'g', CARTESIA_API_KEY: 'c' })).to.deep.equal([]);
    });

    it('asks for no pipeline key when another agent answers the calls', () => {
      expect(problemsAtStart({ AGENT_PROVIDER: 'echo' })).to.deep.equal([]);
      // The check itself, as the agent choice calls it.
      expect(pipelineProblems(loadConfig({ AGENT_PROVIDER: 'echo' }).pipeline).map((p) => p.variable)).to.deep.equal([
        'DEEPGRAM_API_KEY',
        'GROK_API_KEY',
        'CARTESIA_API_KEY',
      ]);
    });
  });
});
