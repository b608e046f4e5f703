import { expect } from 'chai';
import { nodeFlags, runtimeAdvice } from '../../src/startup/runtime-advice.js';

describe('runtime advice for LiveKit pipelines', () => {
  const advice = (nodeVersion: string, runsPipelines = true, flags: string[] = []) => runtimeAdvice({ nodeVersion, runsPipelines, nodeFlags: flags });

  it('warns on Node 20, naming the version, the cost and the fix', () => {
    const text = advice('v20.20.2');
    expect(text).to.include('Node v20.20.2');
    expect(text).to.include('about 40 % more CPU');
    expect(text).to.include('Run the gateway on Node 24 or newer.');
  });

  it('says nothing on Node 24 and later, unless the context frame was turned off', () => {
    expect(advice('v24.22.3')).to.equal(undefined);
    expect(advice('v25.1.0')).to.equal(undefined);
    expect(advice('v24.22.3', true, ['--no-async-context-frame'])).to.include('Node v24.22.3');
  });

  it('on Node 22 and 23, offers the flag, and is quiet once it is given', () => {
    expect(advice('v22.23.5')).to.include('or start it with --experimental-async-context-frame');
    expect(advice('v20.20.2')).to.not.include('--experimental-async-context-frame');
    expect(advice('v22.23.5', true, ['--experimental-async-context-frame'])).to.equal(undefined);
  });

  it('says nothing for a gateway that runs no pipeline, or a version it cannot read', () => {
    expect(advice('v20.20.2', false)).to.equal(undefined);
    expect(advice('unknown')).to.equal(undefined);
  });

  it('reads flags from the command line and NODE_OPTIONS', () => {
    expect(nodeFlags({ NODE_OPTIONS: ' --max-old-space-size=512  --experimental-async-context-frame ' }, ['--import', 'tsx'])).to.deep.equal([
      '--import',
      'tsx',
      '--max-old-space-size=512',
      '--experimental-async-context-frame',
    ]);
    expect(nodeFlags({}, [])).to.deep.equal([]);
  });
});
