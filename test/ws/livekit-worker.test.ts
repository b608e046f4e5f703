// AGENT_PROVIDER=livekit as an operator runs it: the gateway chooses the LiveKit pipeline from
// configuration and hosts it in its agent worker pool, off the media thread. The fake Twilio
// caller streams the speech fixtures over a real socket; the pipeline in the worker reaches the
// provider stand-ins over theirs, through the base URLs of the configuration alone.
import { expect } from 'chai';
import nock from 'nock';
import type { Worker } from 'node:worker_threads';
import type { Env } from '../../src/config.js';
import { caller1, caller2, say, startLivekitCall, type LivekitCall } from '../helpers/livekit-call.js';

const exited = (thread: Worker) => new Promise<number>((resolve) => thread.once('exit', resolve));

/** The stand-ins, and a gateway configured for them with AGENT_PROVIDER=livekit and one agent worker. */
const setUp = (env: Env = {}): Promise<LivekitCall> => startLivekitCall({ where: 'worker', env });

describe('media stream with AGENT_PROVIDER=livekit (the pipeline in an agent worker, provider stand-ins)', function () {
  this.timeout(60_000);
  let h: LivekitCall | undefined;

  afterEach(async () => {
    nock.cleanAll();
    await h?.close();
    h = undefined;
  });

  it('holds a two-turn conversation the caller hears, from a worker thread, with its transcript lines', async () => {
    h = await setUp();
    const { caller: c, t, deepgram, grok, cartesia } = h;
    deepgram.transcribeWith('I would like to book a flight', 'to Paris on Friday');
    grok.replyWith({ text: 'Sure, where to?' }, { text: 'Booked for Friday.' });
    expect(t.gateway.agentKind).to.equal('livekit');
    await c.connect();
    await say(c, caller1);
    await c.waitFor(() => c.marksEchoed.length >= 1, 20_000);
    await say(c, caller2);
    await c.waitFor(() => c.marksEchoed.length >= 2, 20_000);
    expect(t.gateway.agentPool.loads()).to.deep.equal([1], 'the call runs in the one worker');
    await c.stop();
    const summary = await t.nextEnded(10_000);

    expect(c.heardAudio().length / 8000).to.be.greaterThan(2, 'seconds of agent speech heard');
    expect(c.invalidFrames).to.deep.equal([]);
    expect(cartesia.contexts.map((ctx) => ctx.transcript.trim())).to.deep.equal(['Sure, where to?', 'Booked for Friday.']);
    expect(summary.transcript.map((l) => [l.role, l.text, l.interrupted])).to.deep.equal([
      ['user', 'I would like to book a flight', undefined],
      ['assistant', 'Sure, where to?', undefined],
      ['user', 'to Paris on Friday', undefined],
      ['assistant', 'Booked for Friday.', undefined],
    ]);
    expect(summary.reason).to.equal('twilio_stop');
    const rows = t.telemetry.summary();
    expect(rows.find((r) => r.component === 'agent' && r.action === 'turn_latency')?.count).to.equal(2);
    expect(rows.find((r) => r.action === 'livekit_llm_ttft')?.count).to.be.greaterThanOrEqual(2);
  });

  // The line after the caller's last words: Twilio's carries the caller's silence until the redirect;
  // a caller whose audio stops (a muted phone, a lost uplink) sends nothing at all.
  for (const line of ['carries silence', 'falls quiet'] as const) {
    it(`transfer_call (the line ${line} after the request): the whole goodbye is heard and written, then the call is redirected`, async () => {
      const twilio = { account: 'AC' + 'a'.repeat(32), token: 'twilio-token' };
      // What the caller had heard when the gateway asked Twilio to redirect the call.
      const redirects: { twiml: string | null; marksSent: number; marksEchoed: number; heardMs: number }[] = [];
      h = await setUp({
        TWILIO_ACCOUNT_SID: twilio.account,
        TWILIO_AUTH_TOKEN: twilio.token,
        PUBLIC_URL: 'https://gw.example.com',
        TWILIO_TRANSFER_NUMBER: '+15550009999',
      });
      const { caller: c, t, deepgram, grok } = h;
      nock('https://api.twilio.com')
        .post(`/2010-04-01/Accounts/${twilio.account}/Calls/${c.callSid}.json`)
        .reply(async (req: Request) => {
          redirects.push({
            twiml: new URLSearchParams(await req.text()).get('Twiml'),
            marksSent: c.events.filter((e) => e.kind === 'mark-sent').length,
            marksEchoed: c.marksEchoed.length,
            heardMs: c.heardAudio().length / 8,
          });
          return [200, { sid: c.callSid, status: 'in-progress' }];
        });
      const goodbye = 'Of course, I am putting you through now.';
      deepgram.transcribeWith('can I talk to a person');
      grok.replyWith({ text: goodbye, toolCalls: [{ name: 'transfer_call', arguments: { reason: 'wants a human' } }] });
      await c.connect();
      const ended = t.nextEnded(20_000);
      if (line === 'carries silence') {
        await say(c, caller1);
        let over = false;
        void ended.finally(() => (over = true)).catch(() => undefined);
        while (!over) await c.streamSilence(200).catch(() => undefined);
      } else {
        await c.streamAudio(caller1);
        await c.streamSilence(1500); // enough for the turn to end; then not one frame more
      }
      const summary = await ended;

      expect((grok.requestsTo('chat')[0]?.json?.tools as { function: { name: string } }[]).map((tool) => tool.function.name)).to.include('transfer_call');
      expect(summary.reason).to.equal('transferred');
      expect(summary.detail).to.equal('to ***9999');
      expect(redirects).to.have.length(1);
      expect(redirects[0]!.twiml).to.contain('<Dial>+15550009999</Dial>');
      // Sent only once the goodbye had started playing and Twilio had echoed the mark of its last
      // audio: all of it was heard first.
      expect(redirects[0]!.heardMs).to.be.greaterThan(4000, 'ms of the goodbye heard before the redirect');
      expect(redirects[0]!.marksSent).to.be.greaterThan(0);
      expect(redirects[0]!.marksEchoed).to.equal(redirects[0]!.marksSent);
      expect(c.clears).to.equal(0, 'nothing cut the goodbye');
      expect(summary.transcript.map((l) => [l.role, l.text, l.interrupted])).to.deep.equal([
        ['user', 'can I talk to a person', undefined],
        ['assistant', goodbye, undefined],
      ]);
      expect(grok.requestsTo('chat')).to.have.length(1, 'no reply asked for after the tool');
    });
  }

  it('the worker exits when the gateway closes, its call in progress included', async () => {
    h = await setUp();
    const { caller: c, t, deepgram, grok } = h;
    deepgram.transcribeWith('I would like to book a flight');
    grok.replyWith({ text: 'Sure, where to?' });
    await c.connect();
    await say(c, caller1);
    await c.waitFor((e) => e.kind === 'media', 20_000); // the pipeline is live, its sockets open
    const threads = t.gateway.agentPool.threads();
    expect(threads).to.have.length(1);
    const exit = exited(threads[0]!);
    await t.close();
    // Exited on its own (code 0), not terminated after the grace period (code 1).
    expect(await exit).to.equal(0);
    expect(threads[0]!.threadId).to.equal(-1);
    expect(t.gateway.agentPool.threads()).to.deep.equal([]);
    expect(t.ended.map((s) => s.reason)).to.deep.equal(['shutdown']);
  });
});
