// AGENT_WORKERS: how many worker threads host off-thread agents.
import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { ConfigError, defaultAgentWorkers, knownVariables, loadConfig } from '../../src/config.js';

describe('config: AGENT_WORKERS', () => {
  it('leaves one core to the media thread by default, and always has a worker', () => {
    expect(defaultAgentWorkers(2)).to.equal(1);
    expect(defaultAgentWorkers(8)).to.equal(7);
    expect(defaultAgentWorkers(1)).to.equal(1);
  });

  it('defaults to the number of cores; 0 (in-process) and a count are taken', () => {
    expect(loadConfig({}).agentWorkers).to.equal(Math.max(1, availableParallelism() - 1));
    expect(loadConfig({ AGENT_WORKERS: '' }).agentWorkers).to.equal(Math.max(1, availableParallelism() - 1));
    expect(loadConfig({ AGENT_WORKERS: '0' }).agentWorkers).to.equal(0);
    expect(loadConfig({ AGENT_WORKERS: '6' }).agentWorkers).to.equal(6);
    expect(knownVariables()).to.include('AGENT_WORKERS');
  });

  it('refuses a negative or fractional count, naming the variable', () => {
    for (const bad of ['-1', '1.5', 'many']) {
      expect(() => loadConfig({ AGENT_WORKERS: bad }), bad).to.throw(ConfigError, /AGENT_WORKERS/);
    }
  });

  it('AGENT_WORKER_NICE: the worker threads yield to the media thread by default (10); 0 to 19 taken, others refused', () => {
    expect(loadConfig({}).agentWorkerNice).to.equal(10);
    expect(loadConfig({ AGENT_WORKER_NICE: '0' }).agentWorkerNice).to.equal(0);
    expect(loadConfig({ AGENT_WORKER_NICE: '19' }).agentWorkerNice).to.equal(19);
    expect(knownVariables()).to.include('AGENT_WORKER_NICE');
    for (const bad of ['-1', '20', 'low']) {
      expect(() => loadConfig({ AGENT_WORKER_NICE: bad }), bad).to.throw(ConfigError, /AGENT_WORKER_NICE/);
    }
  });
});
