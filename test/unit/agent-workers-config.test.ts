// AGENT_WORKERS: how many worker threads host off-thread agents.
import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { ConfigError, knownVariables, loadConfig } from '../../src/config.js';

describe('config: AGENT_WORKERS', () => {
  it('defaults to the number of cores; 0 (in-process) and a count are taken', () => {
    expect(loadConfig({}).agentWorkers).to.equal(availableParallelism());
    expect(loadConfig({ AGENT_WORKERS: '' }).agentWorkers).to.equal(availableParallelism());
    expect(loadConfig({ AGENT_WORKERS: '0' }).agentWorkers).to.equal(0);
    expect(loadConfig({ AGENT_WORKERS: '6' }).agentWorkers).to.equal(6);
    expect(knownVariables()).to.include('AGENT_WORKERS');
  });

  it('refuses a negative or fractional count, naming the variable', () => {
    for (const bad of ['-1', '1.5', 'many']) {
      expect(() => loadConfig({ AGENT_WORKERS: bad }), bad).to.throw(ConfigError, /AGENT_WORKERS/);
    }
  });
});
