// Start-up with a folder the gateway cannot write: one line that names the variable, exit 78,
// before anything else runs. As root permission bits stop nothing, so the folder is put under a
// regular file, which no one can create a directory in.
import { expect } from 'chai';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { assertWritableDirs, StartupError } from '../../src/startup/checks.js';
import { findFreePort } from '../benchmark/lib/gateway-child.js';
import { spawnGateway } from '../helpers/gateway-process.js';

describe('start-up checks', function () {
  this.timeout(30_000);
  let root: string;
  let aFile: string;

  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'startup-checks-'));
    aFile = path.join(root, 'a-file');
    await writeFile(aFile, 'not a folder');
  });

  afterEach(() => rm(root, { recursive: true, force: true }));

  for (const variable of ['RECORDINGS_DIR', 'DATA_DIR']) {
    it(`refuses an unwritable ${variable} with one line naming it, exit code 78`, async () => {
      const bad = path.join(aFile, 'sub');
      const env: Record<string, string> = {
        PORT: String(await findFreePort()),
        DATA_DIR: path.join(root, 'data'),
        RECORDINGS_DIR: path.join(root, 'recordings'),
        [variable]: bad,
      };
      const gateway = spawnGateway(env);
      expect(await gateway.exited).to.deep.equal({ code: 78, signal: null });
      expect(gateway.stderr()).to.equal(`Could not start the gateway: ${variable}=${bad} is not writable: ENOTDIR\n`);
      expect(gateway.stdout()).to.equal('');
    });
  }

  it('creates missing folders and leaves no probe file behind', async () => {
    const dir = path.join(root, 'new', 'rec');
    assertWritableDirs([['RECORDINGS_DIR', dir]]);
    expect(await readdir(dir)).to.deep.equal([]);
    let caught: unknown;
    try {
      assertWritableDirs([['DATA_DIR', path.join(aFile, 'x')]]);
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(StartupError);
    expect((caught as StartupError).exitCode).to.equal(78);
  });
});
