// LIVEKIT_*: the server's three settings together or not at all, the token TTL as seconds or a
// duration, the agent name and the token dispatch flag.
import { expect } from 'chai';
import { ConfigError, loadConfig, type Env } from '../../src/config.js';

function problems(env: Env): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.variable}: ${p.problem}`);
    throw err;
  }
  return [];
}

const SERVER = { LIVEKIT_URL: 'wss://lk.example.com', LIVEKIT_API_KEY: 'APIkey', LIVEKIT_API_SECRET: 'secret-value' };

describe('rooms configuration', () => {
  it('reads the defaults: rooms off, tokens for an hour, agent voice-agent, no dispatch in tokens', () => {
    const { livekit } = loadConfig({});
    expect(livekit).to.deep.equal({
      url: undefined,
      apiKey: undefined,
      apiSecret: undefined,
      tokenTtlS: 3600,
      agentName: 'voice-agent',
      tokenDispatchesAgent: false,
      sessionStartTimeoutS: 120,
      worker: { mode: 'inline', idleProcesses: 1, healthPort: 0 },
    });
    expect(loadConfig(SERVER).livekit).to.include({ url: 'wss://lk.example.com', apiKey: 'APIkey', apiSecret: 'secret-value' });
  });

  it('names each missing one of URL, key and secret when only some are set, never a value', () => {
    expect(problems({ LIVEKIT_URL: SERVER.LIVEKIT_URL })).to.deep.equal([
      'LIVEKIT_API_KEY: is required when LIVEKIT_URL is set: LiveKit rooms need the URL, the key and the secret',
      'LIVEKIT_API_SECRET: is required when LIVEKIT_URL is set: LiveKit rooms need the URL, the key and the secret',
    ]);
    const noSecret = problems({ LIVEKIT_URL: SERVER.LIVEKIT_URL, LIVEKIT_API_KEY: 'APIkey' });
    expect(noSecret).to.deep.equal(['LIVEKIT_API_SECRET: is required when LIVEKIT_URL and LIVEKIT_API_KEY are set: LiveKit rooms need the URL, the key and the secret']);
    expect(problems({ LIVEKIT_API_SECRET: 'hunter2' }).join('\n')).not.to.contain('hunter2');
  });

  it('takes LIVEKIT_TOKEN_TTL as seconds or with a unit, within 60 s and 7 days', () => {
    const ttl = (value: string) => loadConfig({ LIVEKIT_TOKEN_TTL: value }).livekit.tokenTtlS;
    expect([ttl('600'), ttl('90s'), ttl('10m'), ttl('2h'), ttl('1d'), ttl('5M')]).to.deep.equal([600, 90, 600, 7200, 86_400, 300]);
    for (const bad of ['10 minutes', '-5', '1.5h', 'soon']) {
      expect(problems({ LIVEKIT_TOKEN_TTL: bad }), bad).to.deep.equal(['LIVEKIT_TOKEN_TTL: expected seconds or a duration such as 90s, 10m, 1h']);
    }
    expect(problems({ LIVEKIT_TOKEN_TTL: '30' })).to.deep.equal(['LIVEKIT_TOKEN_TTL: must be between 60 and 604800 seconds']);
    expect(problems({ LIVEKIT_TOKEN_TTL: '8d' })).to.deep.equal(['LIVEKIT_TOKEN_TTL: must be between 60 and 604800 seconds']);
  });

  it('reads LIVEKIT_SESSION_START_TIMEOUT_S within 1 s and a day', () => {
    expect(loadConfig({ LIVEKIT_SESSION_START_TIMEOUT_S: '45' }).livekit.sessionStartTimeoutS).to.equal(45);
    expect(problems({ LIVEKIT_SESSION_START_TIMEOUT_S: '0' })).to.have.length(1);
    expect(problems({ LIVEKIT_SESSION_START_TIMEOUT_S: 'soon' })[0]).to.match(/^LIVEKIT_SESSION_START_TIMEOUT_S: /);
  });

  it('reads LIVEKIT_AGENT_NAME (a dispatchable name) and LIVEKIT_TOKEN_AGENT_DISPATCH', () => {
    const { livekit } = loadConfig({ LIVEKIT_AGENT_NAME: 'front-desk.v2', LIVEKIT_TOKEN_AGENT_DISPATCH: 'true' });
    expect(livekit).to.include({ agentName: 'front-desk.v2', tokenDispatchesAgent: true });
    expect(problems({ LIVEKIT_AGENT_NAME: 'two words' })).to.deep.equal(['LIVEKIT_AGENT_NAME: must be 1 to 64 letters, digits, "_", "." or "-"']);
    // Read now, so no longer reported as a name nobody reads.
    expect(loadConfig({ LIVEKIT_AGENT_NAME: 'x' }).unknownVariables).to.deep.equal([]);
  });
});
