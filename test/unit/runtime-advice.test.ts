import { expect } from 'chai';
import { runtimeAdvice, storeRunsOnHooks } from '../../src/startup/runtime-advice.js';

describe('runtime advice for LiveKit pipelines', () => {
  const advice = (nodeVersion: string, storeOnHooks = true, runsPipelines = true) => runtimeAdvice({ nodeVersion, runsPipelines, storeOnHooks });

  it('warns where the store runs on hooks, naming the version, the cost and the fix', () => {
    const text = advice('v20.20.2');
    expect(text).to.include('Node v20.20.2');
    expect(text).to.include('about 40 % more CPU');
    expect(text).to.include('Run the gateway on Node 24 or newer.');
    expect(text).to.not.include('--experimental-async-context-frame');
  });

  it('on Node 22 and 23 also offers the flag that turns the context frame on', () => {
    expect(advice('v22.23.5')).to.include('or start it with --experimental-async-context-frame');
    expect(advice('v23.1.0')).to.include('or start it with --experimental-async-context-frame');
  });

  it('says nothing where the store runs on the context frame, whatever the version', () => {
    expect(advice('v24.22.3', false)).to.equal(undefined);
    expect(advice('v22.23.5', false)).to.equal(undefined);
  });

  it('says nothing for a gateway that runs no pipeline', () => {
    expect(advice('v20.20.2', true, false)).to.equal(undefined);
  });

  it('reads the implementation this Node runs: hooks before Node 24 unless a flag said otherwise', () => {
    const major = Number(process.versions.node.split('.')[0]);
    const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
    const frameFlag = flags.includes('--experimental-async-context-frame') || flags.includes('--no-async-context-frame');
    if (frameFlag) return; // a run with either flag: nothing to compare the probe with
    expect(storeRunsOnHooks()).to.equal(major < 24);
  });
});
