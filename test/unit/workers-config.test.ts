// WORKERS: how many gateway processes share the port.
import { availableParallelism } from 'node:os';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('WORKERS', () => {
  it('is 1 by default: this process serves alone', () => {
    expect(loadConfig({}).workers).to.equal(1);
  });

  it('takes a whole number, or auto for one per core', () => {
    expect(loadConfig({ WORKERS: '3' }).workers).to.equal(3);
    expect(loadConfig({ WORKERS: 'auto' }).workers).to.equal(availableParallelism());
    expect(loadConfig({ WORKERS: ' AUTO ' }).workers).to.equal(availableParallelism());
  });

  for (const bad of ['0', '1.5', 'many']) {
    it(`refuses WORKERS=${bad}, naming the variable`, () => {
      expect(() => loadConfig({ WORKERS: bad }))
        .to.throw(ConfigError)
        .that.satisfies((err: ConfigError) => err.problems.some((p) => p.variable === 'WORKERS'));
    });
  }
});
