// Twilio REST calls, checked on the wire: nock intercepts api.twilio.com and we assert the exact
// form bodies Twilio receives.
import { expect } from 'chai';
import nock from 'nock';
import { TwilioApiError, TwilioCallControl } from '../../src/twilio/call-control.js';

const SID = 'AC' + '0'.repeat(32);
const TOKEN = 'secret-token';
const CALLS = `/2010-04-01/Accounts/${SID}/Calls`;

function captureForm(path: string, reply: object = { sid: 'CA123', status: 'queued' }, status = 201) {
  const seen: { body?: URLSearchParams; auth?: string | null } = {};
  nock('https://api.twilio.com')
    .post(path)
    .reply(async (req: Request) => {
      seen.body = new URLSearchParams(await req.text());
      seen.auth = req.headers.get('authorization');
      return [status, reply];
    });
  return seen;
}

describe('twilio/TwilioCallControl', () => {
  before(() => nock.disableNetConnect());
  afterEach(() => nock.cleanAll());
  after(() => nock.enableNetConnect());

  const control = () => new TwilioCallControl(SID, TOKEN);

  it('places a call with every status event, a ring timeout and inline TwiML', async () => {
    const seen = captureForm(`${CALLS}.json`);
    const placed = await control().place({
      to: '+15550002222',
      from: '+15550001111',
      twiml: '<Response><Connect><Stream url="wss://gw/twilio/media-stream"/></Connect></Response>',
      statusCallbackUrl: 'https://gw.example.com/twilio/status',
      machineDetection: 'off',
      ringTimeoutS: 25,
    });
    expect(placed).to.deep.equal({ sid: 'CA123', status: 'queued' });
    const body = seen.body!;
    expect(body.get('To')).to.equal('+15550002222');
    expect(body.get('From')).to.equal('+15550001111');
    expect(body.getAll('StatusCallbackEvent')).to.deep.equal(['initiated', 'ringing', 'answered', 'completed']);
    expect(body.get('StatusCallback')).to.equal('https://gw.example.com/twilio/status');
    expect(body.get('StatusCallbackMethod')).to.equal('POST');
    expect(body.get('Timeout')).to.equal('25');
    expect(body.get('Twiml')).to.contain('<Connect><Stream');
    expect(body.has('MachineDetection')).to.equal(false);
    expect(seen.auth).to.equal('Basic ' + Buffer.from(`${SID}:${TOKEN}`).toString('base64'));
  });

  it('asks for asynchronous answering-machine detection when enabled', async () => {
    const seen = captureForm(`${CALLS}.json`);
    await control().place({
      to: '+15550002222',
      from: '+15550001111',
      twiml: '<Response/>',
      statusCallbackUrl: 'https://gw.example.com/twilio/status',
      machineDetection: 'DetectMessageEnd',
      ringTimeoutS: 30,
    });
    expect(seen.body!.get('MachineDetection')).to.equal('DetectMessageEnd');
    expect(seen.body!.get('AsyncAmd')).to.equal('true');
    expect(seen.body!.get('AsyncAmdStatusCallback')).to.equal('https://gw.example.com/twilio/status');
  });

  it('hangs up with Status=completed and cancels with Status=canceled', async () => {
    const hang = captureForm(`${CALLS}/CA9.json`, { sid: 'CA9', status: 'completed' }, 200);
    await control().hangup('CA9');
    expect(Object.fromEntries(hang.body!)).to.deep.equal({ Status: 'completed' });
    const cancel = captureForm(`${CALLS}/CA8.json`, { sid: 'CA8', status: 'canceled' }, 200);
    await control().cancel('CA8');
    expect(Object.fromEntries(cancel.body!)).to.deep.equal({ Status: 'canceled' });
  });

  it('transfers by redirecting the call to <Dial> TwiML', async () => {
    const seen = captureForm(`${CALLS}/CA7.json`, { sid: 'CA7', status: 'in-progress' }, 200);
    await control().transfer('CA7', '+15550009999');
    expect(seen.body!.get('Twiml')).to.equal('<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+15550009999</Dial></Response>');
  });

  it("turns Twilio's error into a TwilioApiError with its code, without the token", async () => {
    captureForm(`${CALLS}.json`, { code: 21211, message: "The 'To' number +1555 is not a valid phone number.", status: 400 }, 400);
    const err = await control()
      .place({ to: '+1555', from: '+15550001111', twiml: '<Response/>', statusCallbackUrl: 'https://gw/s', machineDetection: 'off', ringTimeoutS: 30 })
      .then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(TwilioApiError);
    expect((err as TwilioApiError).code).to.equal(21211);
    expect((err as TwilioApiError).status).to.equal(400);
    expect((err as TwilioApiError).message).to.contain('not a valid phone number');
    expect(JSON.stringify(err) + (err as Error).message).to.not.contain(TOKEN);
  });
});
