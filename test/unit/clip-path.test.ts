// Request paths in log lines and error replies are clipped one way everywhere (a path may be 10 kB).
import { expect } from 'chai';
import { clipPath } from '../../src/util/text.js';

describe('clipPath', () => {
  it('cuts a long request path at one length, in logs and replies alike', () => {
    const path = `/api/tasks/${'x'.repeat(10_000)}`;
    expect(clipPath(path)).to.equal(`${path.slice(0, 200)}…`);
  });

  it('keeps a real route path whole, longer than the 40 characters an echoed id gets', () => {
    const path = '/api/tasks/0b9f6c1e-8d2a-4f3b-9c4d-5e6f7a8b9c0d/recording';
    expect(clipPath(path)).to.equal(path);
  });
});
