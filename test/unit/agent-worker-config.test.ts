// The room agent worker's settings: LIVEKIT_AGENT_NAME, LIVEKIT_AGENT_WORKER,
// LIVEKIT_AGENT_IDLE_PROCESSES and LIVEKIT_AGENT_HEALTH_PORT.
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('config: the room agent worker', () => {
  it('runs inline under the name voice-agent, with one job process waiting and its health server on any free port, by default', () => {
    const { livekit } = loadConfig({});
    expect(livekit.agentName).to.equal('voice-agent');
    expect(livekit.worker).to.deep.equal({ mode: 'inline', idleProcesses: 1, healthPort: 0 });
  });

  it('takes the name, the mode, the idle job processes and the health port; LIVEKIT_AGENT_NAME is read, not reported as unknown', () => {
    const config = loadConfig({ LIVEKIT_AGENT_NAME: 'museum-guide', LIVEKIT_AGENT_WORKER: 'off', LIVEKIT_AGENT_IDLE_PROCESSES: '0', LIVEKIT_AGENT_HEALTH_PORT: '8081' });
    expect(config.livekit.agentName).to.equal('museum-guide');
    expect(config.livekit.worker).to.deep.equal({ mode: 'off', idleProcesses: 0, healthPort: 8081 });
    expect(config.unknownVariables).to.deep.equal([]);
  });

  it('refuses an unknown mode, a negative or huge process count and a bad port, naming each variable', () => {
    for (const [name, bad] of [
      ['LIVEKIT_AGENT_WORKER', 'separate'],
      ['LIVEKIT_AGENT_IDLE_PROCESSES', '-1'],
      ['LIVEKIT_AGENT_IDLE_PROCESSES', '65'],
      ['LIVEKIT_AGENT_HEALTH_PORT', '70000'],
    ] as const) {
      expect(() => loadConfig({ [name]: bad }), `${name}=${bad}`).to.throw(ConfigError, new RegExp(name));
    }
  });

  it('refuses a fixed health port when every process of a WORKERS fleet runs its own agent worker', () => {
    expect(() => loadConfig({ WORKERS: '2', LIVEKIT_AGENT_HEALTH_PORT: '8081' })).to.throw(ConfigError, /LIVEKIT_AGENT_HEALTH_PORT/);
    expect(loadConfig({ WORKERS: '2', LIVEKIT_AGENT_HEALTH_PORT: '8081', LIVEKIT_AGENT_WORKER: 'off' }).livekit.worker.healthPort).to.equal(8081);
    expect(loadConfig({ WORKERS: '2' }).livekit.worker.healthPort).to.equal(0);
  });
});
