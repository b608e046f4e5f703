// The benchmark measures a gateway with WORKERS as a process tree (lib/proc-stats.ts): the root,
// every Node process below it, and no helper of another program (tsx's esbuild service). Real
// processes here: a Node parent that forks a Node child and starts a `sleep`.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { expect } from 'chai';
import { processTree, settledProcessTree, statusBytes, treeBytes } from '../benchmark/lib/proc-stats.js';

/** Prints the pids of its Node child and its `sleep` child, then waits to be killed. */
const PARENT = `
const { fork, spawn } = require('node:child_process');
const node = fork('-e', ['setInterval(() => {}, 1000)'], { execArgv: [], stdio: 'ignore' });
const other = spawn('sleep', ['60'], { stdio: 'ignore' });
process.stdout.write(JSON.stringify({ node: node.pid, other: other.pid }) + '\\n');
process.on('SIGTERM', () => { node.kill(); other.kill(); process.exit(0); });
setInterval(() => {}, 1000);
`;

describe('bench: a gateway measured as a process tree', function () {
  this.timeout(20_000);
  let parent: ChildProcess;
  let pids: { node: number; other: number };

  before(async () => {
    parent = spawn(process.execPath, ['-e', PARENT], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [line] = (await once(parent.stdout!, 'data')) as [Buffer];
    pids = JSON.parse(line.toString()) as { node: number; other: number };
  });

  after(async () => {
    parent.kill('SIGTERM');
    if (parent.exitCode === null) await once(parent, 'exit');
  });

  it('holds the root and the Node processes below it, not a helper of another program', async () => {
    const tree = await settledProcessTree(parent.pid!, 300);
    expect(tree[0]).to.equal(parent.pid);
    expect(tree).to.include(pids.node);
    expect(tree).to.not.include(pids.other);
    expect(processTree(parent.pid!)).to.deep.equal(tree);
  });

  it('sums the memory of every process in it', () => {
    const tree = processTree(parent.pid!);
    expect(treeBytes(tree, 'VmRSS')).to.be.greaterThan(statusBytes(parent.pid!, 'VmRSS'));
  });
});
