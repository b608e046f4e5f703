import { expect } from 'chai';
import { CallEnding, type EndingCall } from '../../src/call/call-ending.js';
import type { PlayoutResult } from '../../src/call/playback.js';
import type { CallSummary, EndReason, TelephonyControl } from '../../src/call/call-types.js';
import { silentLogger } from '../../src/telemetry/logger.js';
import { Telemetry } from '../../src/telemetry/events.js';

/** A call whose playout the test releases by hand, and which records how it was ended. */
function fakeCall() {
  const ends: Array<{ reason: EndReason; detail: string | undefined }> = [];
  let release!: (result: PlayoutResult) => void;
  const call: EndingCall = {
    isLive: () => ends.length === 0,
    callSid: () => 'CA00000000000000000000000000000001',
    ids: () => ({ callSid: 'CA00000000000000000000000000000001' }),
    waitForPlayout: () => new Promise<PlayoutResult>((resolve) => (release = resolve)),
    end: async (reason, detail) => {
      ends.push({ reason, detail });
      return {} as CallSummary;
    },
  };
  return { call, ends, heard: () => release('heard') };
}

function telephony(transfer: () => Promise<void>): TelephonyControl & { hangups: number } {
  const t = {
    hangups: 0,
    hangup: async () => {
      t.hangups++;
    },
    transfer,
  };
  return t;
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('CallEnding', () => {
  const options = (tel: TelephonyControl) => ({ telephony: tel, log: silentLogger(), telemetry: new Telemetry({ noisyEveryN: 1 }), playoutTimeoutMs: 10_000 });

  it('ends the call with the agent error that arrived while a transfer was under way, once the transfer fails', async () => {
    const { call, ends, heard } = fakeCall();
    const tel = telephony(async () => {
      throw new Error('Twilio refused the redirect');
    });
    const ending = new CallEnding(call, options(tel));
    const transfer = ending.onAction({ type: 'transfer', to: '+15550009999', reason: 'wants a human' });
    await tick();
    // The agent dies while the caller still hears its last words.
    void ending.finishAfterPlayback('agent_error', 'the agent socket closed');
    heard(); // the transfer's playout
    await tick();
    heard(); // the apology's playout, after the failed transfer
    await transfer;
    await tick();
    expect(ends).to.deep.equal([{ reason: 'agent_error', detail: 'the agent socket closed' }]);
    expect(tel.hangups).to.equal(1);
  });

  it('keeps the call going after a failed transfer when nothing else went wrong', async () => {
    const { call, ends, heard } = fakeCall();
    const ending = new CallEnding(call, options(telephony(async () => Promise.reject(new Error('no')))));
    const transfer = ending.onAction({ type: 'transfer', to: '+15550009999', reason: 'wants a human' });
    await tick();
    heard();
    await transfer;
    expect(ends).to.deep.equal([]);
  });

  it('names the transfer number by its last digits only in the end reason', async () => {
    const { call, ends, heard } = fakeCall();
    const ending = new CallEnding(call, options(telephony(async () => undefined)));
    const transfer = ending.onAction({ type: 'transfer', to: '+15550009999', reason: 'wants a human' });
    await tick();
    heard();
    await transfer;
    expect(ends).to.deep.equal([{ reason: 'transferred', detail: 'to ***9999' }]);
  });
});
