import { expect } from 'chai';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AgentUnavailableError, selectAgent } from '../../src/agents/index.js';
import { ConfigError, describeConfig, knownVariables, loadConfig, readEnv, resolveAgent, type Env } from '../../src/config.js';

function configError(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('runs on embedded defaults with an empty environment', () => {
    const config = loadConfig({});
    expect(config.port).to.equal(3001);
    expect(config.agent).to.include({ requested: 'auto', kind: 'echo', fallback: false });
    expect(config.host).to.equal(undefined);
    expect(config.logDtmfDigits).to.equal(false);
    expect(config.dataDir).to.equal(path.resolve('data'));
    expect(config.recordingsDir).to.equal(path.resolve('recordings'));
    expect(config.logNoisyEventsEveryN).to.equal(100);
    expect(config.publicUrl).to.equal(undefined);
    expect(config.browserCallConnectTimeoutS).to.equal(120);
    expect(config.vad).to.deep.equal({ minSpeechS: 0.1, minSilenceS: 0.6, paddingS: 0.2 });
    expect(config.deepgram.wsUrl).to.equal('wss://agent.deepgram.com/v1/agent/converse');
  });

  it('resolves AGENT_PROVIDER=auto: deepgram when enabled with a key, else livekit when its pipeline keys are set, else echo, and says why', () => {
    const keyOnly = loadConfig({ DEEPGRAM_API_KEY: 'k' }).agent;
    expect(keyOnly).to.include({ kind: 'echo', reason: 'DEEPGRAM_API_KEY is set but DEEPGRAM_VOICE_AGENT_ENABLED is not true' });
    expect(loadConfig({ DEEPGRAM_API_KEY: 'k', DEEPGRAM_VOICE_AGENT_ENABLED: 'true' }).agent.kind).to.equal('deepgram');
    const pipelineKeys = { DEEPGRAM_API_KEY: 'd', GROK_API_KEY: 'g', CARTESIA_API_KEY: 'c' };
    expect(loadConfig({ ...pipelineKeys, DEEPGRAM_VOICE_AGENT_ENABLED: '1' }).agent.kind).to.equal('deepgram');
    expect(loadConfig({ ...pipelineKeys, AGENT_PROVIDER: 'echo' }).agent.kind).to.equal('echo');
    expect(loadConfig(pipelineKeys).agent).to.deep.equal({
      requested: 'auto',
      kind: 'livekit',
      reason: "the LiveKit pipeline's keys are set (STT_PROVIDER=deepgram, LLM grok, TTS_PROVIDER=cartesia)",
      fallback: false,
    });
    const openAiOnly = { OPENAI_API_KEY: 'o', STT_PROVIDER: 'openai', LLM_PROVIDER: 'openai', TTS_PROVIDER: 'openai' };
    expect(loadConfig(openAiOnly).agent.kind).to.equal('livekit');
    // A build without the LiveKit agent never picks it.
    const { deepgram, livekit, pipeline } = loadConfig({ ...pipelineKeys, AGENT_PROVIDER: 'echo' });
    expect(resolveAgent('auto', deepgram, livekit, pipeline, new Set(['echo', 'deepgram'])).kind).to.equal('echo');
  });

  it('AGENT_PROVIDER=auto with LIVEKIT_* keys but not the pipeline\'s: echo, with a warning naming the missing keys', async () => {
    const livekit = { LIVEKIT_URL: 'wss://lk.example.com', LIVEKIT_API_KEY: 'a', LIVEKIT_API_SECRET: 'b' };
    const config = loadConfig({ ...livekit, DEEPGRAM_API_KEY: 'd' });
    expect(config.agent).to.include({ kind: 'echo', fallback: true });
    expect(config.agent.reason).to.equal(
      'LIVEKIT_* keys are set (browser rooms), but phone calls get the LiveKit pipeline only with its provider keys: GROK_API_KEY, CARTESIA_API_KEY ' +
        '(STT_PROVIDER=deepgram, LLM grok, TTS_PROVIDER=cartesia). Set AGENT_PROVIDER=echo to silence this',
    );
    expect(selectAgent(config).kind).to.equal('echo');
  });

  it('AGENT_PROVIDER=livekit starts with its pipeline keys, and refuses AGENT_WORKERS=0 (never on the media thread)', () => {
    const pipelineKeys = { DEEPGRAM_API_KEY: 'd', GROK_API_KEY: 'g', CARTESIA_API_KEY: 'c' };
    expect(loadConfig({ ...pipelineKeys, AGENT_PROVIDER: 'livekit', AGENT_WORKERS: '1' }).agent.kind).to.equal('livekit');
    expect(configError({ ...pipelineKeys, AGENT_PROVIDER: 'livekit', AGENT_WORKERS: '0' }).message).to.equal(
      "AGENT_WORKERS: must be at least 1 when AGENT_PROVIDER=livekit: the pipeline runs in worker threads, never on the thread that carries the calls' audio",
    );
    // auto lands on the same check.
    expect(configError({ ...pipelineKeys, AGENT_WORKERS: '0' }).variable).to.equal('AGENT_WORKERS');
    // selectAgent is the in-process choice: the pipeline is never built there.
    expect(() => selectAgent(loadConfig({ ...pipelineKeys, AGENT_PROVIDER: 'livekit' }))).to.throw(AgentUnavailableError, /worker pool/);
  });

  it('names the variable and the problem when a value is wrong', () => {
    expect(configError({ PORT: 'abc' }).message).to.equal('PORT: expected a number, got "abc"');
    expect(configError({ PORT: '70000' }).variable).to.equal('PORT');
    expect(configError({ AGENT_PROVIDER: 'parrot' }).message).to.match(/^AGENT_PROVIDER: expected one of auto, echo, deepgram, livekit/);
    expect(configError({ LOG_NOISY_EVENTS_EVERY_N: '2.5' }).variable).to.equal('LOG_NOISY_EVENTS_EVERY_N');
    expect(configError({ VAD_MIN_SILENCE_DURATION: '-1' }).variable).to.equal('VAD_MIN_SILENCE_DURATION');
    expect(configError({ DEEPGRAM_VOICE_AGENT_ENABLED: 'maybe' }).variable).to.equal('DEEPGRAM_VOICE_AGENT_ENABLED');
    expect(configError({ PUBLIC_URL: 'ftp://x' }).variable).to.equal('PUBLIC_URL');
    expect(configError({ PUBLIC_URL: 'https://gw.example.com/base' }).message).to.match(/without a path/);
  });

  it('keeps the media bounds bounded: the lead and the idle timeout stop at 10 minutes', () => {
    // Together they bound the silence one caller frame may add to a recording.
    expect(configError({ MEDIA_MAX_LEAD_S: '3600' }).variable).to.equal('MEDIA_MAX_LEAD_S');
    expect(configError({ MEDIA_IDLE_TIMEOUT_S: '3600' }).variable).to.equal('MEDIA_IDLE_TIMEOUT_S');
    expect(loadConfig({ MEDIA_MAX_LEAD_S: '600', MEDIA_IDLE_TIMEOUT_S: '600' }).mediaMaxLeadS).to.equal(600);
  });

  it('refuses invalid JSON in DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS, naming it', () => {
    const err = configError({ DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: '{bad' });
    expect(err.variable).to.equal('DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS');
    expect(err.message).to.match(/not valid JSON/);
    expect(configError({ DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: '{"a":1}' }).message).to.match(/must be a string/);
  });

  it('names the variable and the position of a JSON error in the headers, never their content', () => {
    const token = 'sk-live-0123456789abcdef';
    const cases: Array<[string, string]> = [
      // V8's own message quotes the whole input for this one.
      [`{"authorization": Bearer ${token}}`, 'syntax error at character 19 of 50'],
      [`{"authorization":"Bearer ${token}",}`, 'syntax error at character 52 of 52'],
      [`Bearer ${token}`, 'syntax error at character 1 of 31'],
      [`{"authorization":"Bearer ${token}"`, 'it ends before the JSON is complete'],
    ];
    for (const [value, where] of cases) {
      const err = configError({ DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: value });
      expect(err.message).to.equal(`DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: is not valid JSON (${where})`);
      expect(err.message).to.not.contain('sk-live');
      expect(err.message).to.not.contain('Bearer');
    }
  });

  it('never echoes the value of a variable that may hold a secret', () => {
    const secret = 'hunter2-secret-value';
    const err = configError({
      DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_URL: `not a url ${secret}`,
      VLLM_BASE_URL: `ftp://user:${secret}@host/`,
      LIVEKIT_URL: `https://user:${secret}@`,
      DEEPGRAM_VOICE_AGENT_WS_URL: `ws//${secret}`,
      TWILIO_ACCOUNT_SID: secret,
    });
    expect(err.problems.map((p) => p.variable)).to.have.members([
      'DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_URL',
      'VLLM_BASE_URL',
      'LIVEKIT_URL',
      'DEEPGRAM_VOICE_AGENT_WS_URL',
      'TWILIO_ACCOUNT_SID',
    ]);
    expect(err.message).to.not.contain('hunter2');
    // A value that cannot be a secret is still quoted: it is the quickest way to spot the typo.
    expect(configError({ LOG_LEVEL: 'verbose' }).message).to.contain('"verbose"');
  });

  it('reports every bad variable at once, the first as err.variable', () => {
    const err = configError({ PORT: 'abc', LOG_LEVEL: 'loud', VAD_PADDING_DURATION: '99', CORS_ORIGINS: '*' });
    expect(err.variable).to.equal('PORT');
    expect(err.problems.map((p) => p.variable)).to.deep.equal(['PORT', 'LOG_LEVEL', 'CORS_ORIGINS', 'VAD_PADDING_DURATION']);
    expect(err.message.split('\n')).to.have.length(4);
    // Cross-checks join the list too.
    const both = configError({ TWILIO_AUTH_TOKEN: 't', AGENT_PROVIDER: 'deepgram', PORT: '-1' });
    expect(both.problems.map((p) => p.variable)).to.have.members(['DEEPGRAM_API_KEY', 'PUBLIC_URL', 'PORT']);
  });

  it('refuses CORS_ORIGINS=* with an explanation, and entries that are not origins', () => {
    const err = configError({ CORS_ORIGINS: '*' });
    expect(err.variable).to.equal('CORS_ORIGINS');
    expect(err.message).to.match(/"\*" is not supported: list each browser origin exactly/);
    expect(configError({ CORS_ORIGINS: 'https://ops.example.com/app' }).message).to.match(/is not an origin/);
    expect(loadConfig({ CORS_ORIGINS: 'https://ops.example.com/, http://localhost:5173' }).corsOrigins).to.deep.equal([
      'https://ops.example.com',
      'http://localhost:5173',
    ]);
  });

  it('reads HOST and LOG_DTMF_DIGITS', () => {
    const config = loadConfig({ HOST: '127.0.0.1', LOG_DTMF_DIGITS: 'true' });
    expect(config.host).to.equal('127.0.0.1');
    expect(config.logDtmfDigits).to.equal(true);
  });

  it('finds variables that look like ours but are not, by prefix or near miss, without their values', () => {
    const config = loadConfig({
      AGENT_PROVIDR: 'deepgram',
      TWILIO_AUTH_TOKN: 'secret',
      DEEPGRAM_FOO: 'x',
      HOME: '/root',
      PATH: '/bin',
      HOSTNAME: 'box',
      NODE_ENV: 'test',
      PORT: '3001',
      XAI_API_KEY: 'reserved',
    });
    expect(config.unknownVariables).to.deep.equal([
      { name: 'AGENT_PROVIDR', didYouMean: 'AGENT_PROVIDER' },
      { name: 'TWILIO_AUTH_TOKN', didYouMean: 'TWILIO_AUTH_TOKEN' },
      { name: 'DEEPGRAM_FOO' },
    ]);
  });

  it('lists in .env.example exactly the variables the code knows', () => {
    const example = readFileSync(path.resolve('.env.example'), 'utf8');
    const listed = [...example.matchAll(/^#?\s?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!);
    const known = knownVariables();
    expect(known).to.include('PORT').and.include('DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS');
    expect([...new Set(listed)].sort()).to.deep.equal([...new Set(known)].sort());
  });

  it('needs PUBLIC_URL when TWILIO_AUTH_TOKEN is set, and a key when deepgram is asked for', () => {
    expect(configError({ TWILIO_AUTH_TOKEN: 't' }).variable).to.equal('PUBLIC_URL');
    expect(configError({ AGENT_PROVIDER: 'deepgram' }).variable).to.equal('DEEPGRAM_API_KEY');
  });

  it('normalizes PUBLIC_URL to an origin', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://gw.example.com/' }).publicUrl).to.equal('https://gw.example.com');
  });

  it('reads .env under the environment, which wins', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
    const file = path.join(dir, '.env');
    writeFileSync(file, 'PORT=4000\nLOG_LEVEL=debug\n# a comment\n');
    const env = readEnv({ LOG_LEVEL: 'warn' }, file);
    const config = loadConfig(env);
    expect(config.port).to.equal(4000);
    expect(config.logLevel).to.equal('warn');
  });

  it('describes itself without secrets', () => {
    const config = loadConfig({ TWILIO_AUTH_TOKEN: 'tok-secret', PUBLIC_URL: 'https://gw.example.com', DEEPGRAM_API_KEY: 'dg-secret' });
    const text = JSON.stringify(describeConfig(config));
    expect(text).to.not.contain('secret');
    expect(describeConfig(config)).to.include({ twilioSignatureChecks: true, deepgramKeySet: true });
  });
});
