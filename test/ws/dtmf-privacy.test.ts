// What callers key in and who they are stay out of the logs and telemetry: a DTMF frame over a
// real socket is logged and recorded as "a digit was pressed", and phone numbers show their last
// four digits only, unless LOG_DTMF_DIGITS=true asks for the digits.
import { expect } from 'chai';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { startTestGateway } from '../helpers/test-gateway.js';
import type { Env } from '../../src/config.js';

const FROM = '+14155550123';
const TO = '+14155559876';
const PIN = ['7', '3', '9', '1'];

async function callWithPin(env: Env) {
  const capture = capturingLogger('debug');
  const digits: string[] = [];
  const t = await startTestGateway(env, { logger: capture.logger, hooks: { dtmf: (_call, digit) => digits.push(digit) } });
  try {
    const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: 8, customParameters: { from: FROM, to: TO } });
    await caller.connect();
    for (const digit of PIN) caller.sendDtmf(digit);
    await caller.streamSilence(100);
    await caller.stop();
    await t.nextEnded();
    const events = t.telemetry.recent({ limit: 1000 });
    return { capture, events, digits };
  } finally {
    await t.close();
  }
}

describe('DTMF and phone numbers in logs and telemetry', function () {
  this.timeout(20_000);

  it('records that digits were pressed, never which, and masks phone numbers', async () => {
    const { capture, events, digits } = await callWithPin({});
    const dtmfLines = capture.lines.filter((line) => line['message'] === 'dtmf');
    expect(dtmfLines).to.have.length(PIN.length);
    for (const line of dtmfLines) expect(line).to.not.have.property('digit');
    const dtmfEvents = events.filter((e) => e.action === 'dtmf');
    expect(dtmfEvents).to.have.length(PIN.length);
    for (const event of dtmfEvents) expect(event).to.not.have.property('digit');

    const started = capture.lines.find((line) => line['message'] === 'media stream started');
    expect(started).to.include({ from: '***0123', to: '***9876' });
    const everything = capture.text() + JSON.stringify(events);
    expect(everything).to.not.contain('4155550123').and.not.contain('4155559876');
    expect(everything).to.not.match(/"digit"/);
    // The bridge and in-process hooks still get the digits: an agent may act on them.
    expect(digits).to.deep.equal(PIN);
  });

  it('writes the digits when LOG_DTMF_DIGITS=true', async () => {
    const { capture, events } = await callWithPin({ LOG_DTMF_DIGITS: 'true' });
    expect(capture.lines.filter((line) => line['message'] === 'dtmf').map((line) => line['digit'])).to.deep.equal(PIN);
    // recent() is newest first.
    expect(events.filter((e) => e.action === 'dtmf').map((e) => (e as Record<string, unknown>)['digit']).reverse()).to.deep.equal(PIN);
  });
});
