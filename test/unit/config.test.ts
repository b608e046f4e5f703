import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, describeConfig, loadConfig, readEnv, type Env } from '../../src/config.js';

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
    expect(config.agent).to.deep.equal({ requested: 'auto', kind: 'echo' });
    expect(config.dataDir).to.equal(path.resolve('data'));
    expect(config.recordingsDir).to.equal(path.resolve('recordings'));
    expect(config.logNoisyEventsEveryN).to.equal(100);
    expect(config.publicUrl).to.equal(undefined);
    expect(config.vad).to.deep.equal({ minSpeechS: 0.1, minSilenceS: 0.6, paddingS: 0.2 });
    expect(config.deepgram.wsUrl).to.equal('wss://agent.deepgram.com/v1/agent/converse');
  });

  it('resolves AGENT_PROVIDER=auto: deepgram when enabled with a key, else livekit with keys, else echo', () => {
    expect(loadConfig({ DEEPGRAM_API_KEY: 'k' }).agent.kind).to.equal('echo');
    expect(loadConfig({ DEEPGRAM_API_KEY: 'k', DEEPGRAM_VOICE_AGENT_ENABLED: 'true' }).agent.kind).to.equal('deepgram');
    const livekit = { LIVEKIT_URL: 'wss://lk.example.com', LIVEKIT_API_KEY: 'a', LIVEKIT_API_SECRET: 'b' };
    expect(loadConfig(livekit).agent.kind).to.equal('livekit');
    expect(loadConfig({ ...livekit, DEEPGRAM_API_KEY: 'k', DEEPGRAM_VOICE_AGENT_ENABLED: '1' }).agent.kind).to.equal('deepgram');
    expect(loadConfig({ ...livekit, AGENT_PROVIDER: 'echo' }).agent.kind).to.equal('echo');
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

  it('refuses invalid JSON in DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS, naming it', () => {
    const err = configError({ DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: '{bad' });
    expect(err.variable).to.equal('DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS');
    expect(err.message).to.match(/not valid JSON/);
    expect(configError({ DEEPGRAM_VOICE_AGENT_THINK_ENDPOINT_HEADERS: '{"a":1}' }).message).to.match(/must be a string/);
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
