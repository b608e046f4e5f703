// The gateway as an operator starts it (`npm start`): the start-up banner and warnings, and the
// drain on Ctrl-C, which a second Ctrl-C cuts short.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { expect } from 'chai';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';

interface Started {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first line (seen or to come) that matches. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

function startMain(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (text) => {
      lines.push(text);
      for (const wake of waiters.splice(0)) wake();
    });
  }
  const line = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} in:\n${lines.join('\n')}`)), timeoutMs);
      const check = () => {
        const found = lines.find((l) => pattern.test(l));
        if (found === undefined) return void waiters.push(check);
        clearTimeout(timer);
        resolve(found);
      };
      check();
    });
  return { child, lines, line };
}

describe('src/main.ts', function () {
  this.timeout(60_000);
  let root: string;
  let started: Started | undefined;

  beforeEach(() => (root = mkdtempSync(path.join(os.tmpdir(), 'gateway-main-'))));
  afterEach(async () => {
    if (started && started.child.exitCode === null && started.child.signalCode === null) {
      started.child.kill('SIGKILL');
      await once(started.child, 'exit');
    }
    rmSync(root, { recursive: true, force: true });
  });

  const baseEnv = () => ({ PORT: '0', DATA_DIR: path.join(root, 'data'), RECORDINGS_DIR: path.join(root, 'recordings') });

  it('says why it chose the agent, warns about look-alike variables without their values, and binds HOST', async () => {
    started = startMain({ ...baseEnv(), HOST: '127.0.0.1', DEEPGRAM_API_KEY: 'dg-key', TWILIO_AUTH_TOKN: 'tok-value-123' });
    const banner = await started.line(/listening on/);
    expect(banner).to.match(/listening on http:\/\/127\.0\.0\.1:\d+ /);
    expect(banner).to.contain('agent=echo');
    expect(banner).to.contain('DEEPGRAM_API_KEY is set but DEEPGRAM_VOICE_AGENT_ENABLED is not true');
    expect(await started.line(/TWILIO_AUTH_TOKN/)).to.match(/did you mean TWILIO_AUTH_TOKEN\?/);
    expect(await started.line(/API_KEY is not set/)).to.contain('anyone on this machine (HOST=127.0.0.1)');
    expect(started.lines.join('\n')).to.not.contain('tok-value-123').and.not.contain('dg-key');
  });

  it('lists every bad variable at once and exits 78', async () => {
    started = startMain({ ...baseEnv(), PORT: 'abc', LOG_LEVEL: 'loud', CORS_ORIGINS: '*' });
    const [code] = (await once(started.child, 'exit')) as [number];
    expect(code).to.equal(78);
    const text = started.lines.join('\n');
    for (const name of ['PORT', 'LOG_LEVEL', 'CORS_ORIGINS']) expect(text).to.contain(`  ${name}: `);
  });

  it('drains on Ctrl-C, says a second one exits at once, and a second one does', async () => {
    started = startMain({ ...baseEnv(), HOST: '127.0.0.1', DRAIN_TIMEOUT_S: '120' });
    const port = /127\.0\.0\.1:(\d+)/.exec(await started.line(/listening on/))![1];
    const caller = new FakeTwilioCaller({ url: `ws://127.0.0.1:${port}/twilio/media-stream`, speed: 4 });
    await caller.connect();
    await caller.streamSilence(200);
    await started.line(/media stream started/);

    started.child.kill('SIGINT');
    expect(await started.line(/SIGINT: draining/)).to.match(/press Ctrl-C again .* to exit now/);
    expect(started.child.exitCode).to.equal(null);
    started.child.kill('SIGINT');
    const [code] = (await once(started.child, 'exit')) as [number];
    expect(code).to.equal(1);
    caller.close();
  });
});
