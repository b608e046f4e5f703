// The process-level fault guard, for real: a gateway in a child process whose agent throws, in a
// timer or while its call ends, or leaves a rejected promise unhandled. The faulty call is ended and logged with its ids; the process
// lives on and another call carries on as if nothing happened.
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { readMulawWav } from '../../src/audio/wav-io.js';

const SPEED = 8;
const speech = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');

describe('fault guard: an exception in one call', function () {
  this.timeout(30_000);
  let child: ChildProcess;
  let output = '';
  let url = '';
  const callers: FakeTwilioCaller[] = [];

  beforeEach(async () => {
    output = '';
    child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/faulty-gateway.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const port = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the gateway did not start: ${output}`)), 20_000);
      const check = () => {
        const match = /listening (\d+)/.exec(output);
        if (!match) return;
        clearTimeout(timer);
        child.stdout!.off('data', check);
        resolve(match[1]!);
      };
      child.stdout!.on('data', check);
      child.once('exit', (code) => reject(new Error(`the gateway exited with ${code}: ${output}`)));
    });
    url = `ws://127.0.0.1:${port}/twilio/media-stream`;
  });

  afterEach(async () => {
    for (const c of callers.splice(0)) c.close();
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });

  function caller(fault?: string): FakeTwilioCaller {
    const c = new FakeTwilioCaller({ url, speed: SPEED, customParameters: fault ? { fault } : {} });
    callers.push(c);
    return c;
  }

  /** The echo agent plays the caller's words back: the call is alive and well. */
  async function expectEcho(c: FakeTwilioCaller): Promise<void> {
    await c.streamSilence(300);
    await c.streamAudio(speech);
    await c.streamSilence(800);
    await c.waitFor((e) => e.kind === 'mark-echoed', 10_000);
    await c.stop();
  }

  // Faults that reach the process-level handlers, raised in the call's scope (see faulty-gateway.ts).
  for (const { fault, what, logged, error } of [
    { fault: 'timer', what: 'thrown in a timer of that call', logged: 'uncaught exception', error: 'the agent broke in a timer' },
    { fault: 'rejection', what: 'a rejection left unhandled in that call', logged: 'unhandled rejection', error: 'the agent left a rejection unhandled' },
  ]) {
    it(`${what} ends only that call; the process and another call go on`, async () => {
      const healthy = caller();
      await healthy.connect();
      const faulty = caller(fault);
      await faulty.connect();
      expect(await faulty.waitForClose(10_000)).to.deep.equal({ code: 1000, reason: 'internal_error' });
      await expectEcho(healthy);
      expect(child.exitCode).to.equal(null);
      expect(output).to.match(new RegExp(`${logged} in a call; ending that call [^\\n]*callSid=${faulty.callSid}[^\\n]*${error}`));
    });
  }

  it('thrown while handling one of its frames ends only that call', async () => {
    const healthy = caller();
    await healthy.connect();
    const faulty = caller('frame');
    await faulty.connect();
    await faulty.streamSilence(100);
    expect(await faulty.waitForClose(10_000)).to.deep.equal({ code: 1000, reason: 'internal_error' });
    await expectEcho(healthy);
    expect(child.exitCode).to.equal(null);
    expect(output).to.match(new RegExp(`a frame from Twilio could not be handled; ending the call [^\\n]*callSid=${faulty.callSid}[^\\n]*the agent broke on a caller frame`));
  });

  it('thrown while that call ends still ends it, and the process goes on', async () => {
    const faulty = caller('close');
    await faulty.connect();
    await faulty.streamSilence(200);
    await faulty.stop();
    expect(faulty.events.some((e) => e.kind === 'closed')).to.equal(true);
    const healthy = caller();
    await healthy.connect();
    await expectEcho(healthy);
    expect(child.exitCode).to.equal(null);
    expect(output).to.match(new RegExp(`the agent did not close cleanly [^\\n]*callSid=${faulty.callSid}[^\\n]*the agent broke while closing`));
    expect(output).to.match(new RegExp(`call ended [^\\n]*callSid=${faulty.callSid}[^\\n]*reason=twilio_stop [^\\n]*recording=`));
  });
});
