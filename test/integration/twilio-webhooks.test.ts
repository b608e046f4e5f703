import { expect } from 'chai';
import { Writable } from 'node:stream';
import winston from 'winston';
import WebSocket from 'ws';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { twilioSignature } from '../helpers/twilio-signing.js';
import { inboundStream } from '../helpers/twilio-stream.js';

const TOKEN = 'test-auth-token';
const PUBLIC = 'https://gw.example.com';
const voiceParams = { CallSid: 'CA0001', From: '+15550001111', To: '+15550002222', Direction: 'inbound' };

function form(params: Record<string, string>): string {
  return new URLSearchParams(params).toString();
}

/** A debug-level logger whose lines (as winston hands them over) land in `lines`. */
function capturingLogger(): { logger: winston.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    objectMode: true,
    write(info: Record<string, unknown>, _encoding, done) {
      lines.push({ ...info });
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }), lines };
}

async function post(base: string, path: string, params: Record<string, string>, signature?: string): Promise<Response> {
  return fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(signature ? { 'x-twilio-signature': signature } : {}) },
    body: form(params),
  });
}

describe('Twilio webhooks and health', () => {
  describe('without an auth token', () => {
    let t: TestGateway;
    before(async () => (t = await startTestGateway({ PUBLIC_URL: PUBLIC })));
    after(() => t.close());

    it('GET /health reports status, version, uptime, agent, calls, streams without start yet, and the call cap', async () => {
      const res = await fetch(`${t.baseUrl}/health`);
      expect(res.status).to.equal(200);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).to.include({ status: 'ok', agent: 'echo', active_calls: 0, pending_streams: 0, max_concurrent_calls: 150 });
      expect(body.version).to.match(/^\d+\.\d+\.\d+/);
      expect(body.uptime_s).to.be.a('number');
    });

    it('POST /twilio/voice connects the call to the media stream with its context as parameters', async () => {
      const res = await post(t.baseUrl, '/twilio/voice?taskId=task_42', voiceParams);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/text\/xml/);
      const twiml = await res.text();
      expect(twiml).to.equal(
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://gw.example.com/twilio/media-stream">' +
          '<Parameter name="taskId" value="task_42"/><Parameter name="from" value="+15550001111"/>' +
          '<Parameter name="to" value="+15550002222"/><Parameter name="direction" value="inbound"/>' +
          '</Stream></Connect></Response>',
      );
    });

    it('leaves out parameters the request does not carry', async () => {
      const twiml = await (await post(t.baseUrl, '/twilio/voice', { CallSid: 'CA2' })).text();
      expect(twiml).to.not.contain('<Parameter');
    });

    it('POST /twilio/status accepts a callback and refuses one without CallSid', async () => {
      expect((await post(t.baseUrl, '/twilio/status', { CallSid: 'CA1', CallStatus: 'ringing', SequenceNumber: '1' })).status).to.equal(204);
      const bad = await post(t.baseUrl, '/twilio/status', { CallStatus: 'ringing' });
      expect(bad.status).to.equal(400);
      expect(await bad.json()).to.have.property('error', 'invalid_request');
    });

    it('answers unknown routes with a JSON 404', async () => {
      const res = await fetch(`${t.baseUrl}/no/such/route`);
      expect(res.status).to.equal(404);
      expect(await res.json()).to.deep.equal({ error: 'not_found', message: 'no route for GET /no/such/route' });
    });
  });

  describe('with TWILIO_AUTH_TOKEN set', () => {
    let t: TestGateway;
    before(async () => (t = await startTestGateway({ PUBLIC_URL: PUBLIC, TWILIO_AUTH_TOKEN: TOKEN })));
    after(() => t.close());

    it('accepts a webhook signed over PUBLIC_URL, whatever Host the request came in on', async () => {
      const signature = twilioSignature(TOKEN, `${PUBLIC}/twilio/voice?taskId=t1`, voiceParams);
      const res = await post(t.baseUrl, '/twilio/voice?taskId=t1', voiceParams, signature);
      expect(res.status).to.equal(200);
      expect(await res.text()).to.contain('<Parameter name="taskId" value="t1"/>');
    });

    it('refuses an unsigned webhook with 403', async () => {
      const res = await post(t.baseUrl, '/twilio/voice', voiceParams);
      expect(res.status).to.equal(403);
      expect(await res.json()).to.have.property('error', 'invalid_signature');
    });

    it('refuses a signature over different params, and over X-Forwarded-Host', async () => {
      const signature = twilioSignature(TOKEN, `${PUBLIC}/twilio/voice`, voiceParams);
      expect((await post(t.baseUrl, '/twilio/voice', { ...voiceParams, To: '+15559990000' }, signature)).status).to.equal(403);
      const forged = twilioSignature(TOKEN, 'https://evil.example.com/twilio/status', { CallSid: 'CA1', CallStatus: 'completed' });
      const res = await fetch(`${t.baseUrl}/twilio/status`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': forged, 'x-forwarded-host': 'evil.example.com' },
        body: form({ CallSid: 'CA1', CallStatus: 'completed' }),
      });
      expect(res.status).to.equal(403);
    });

    it('names a per-call stream URL, a token in its path, in the TwiML', async () => {
      const signature = twilioSignature(TOKEN, `${PUBLIC}/twilio/voice`, voiceParams);
      const twiml = await (await post(t.baseUrl, '/twilio/voice', voiceParams, signature)).text();
      expect(twiml).to.match(/<Stream url="wss:\/\/gw\.example\.com\/twilio\/media-stream\/[\w-]+\.[\w-]+">/);
    });

    it('checks /twilio/status too', async () => {
      const params = { CallSid: 'CA1', CallStatus: 'completed', SequenceNumber: '3' };
      expect((await post(t.baseUrl, '/twilio/status', params)).status).to.equal(403);
      expect((await post(t.baseUrl, '/twilio/status', params, twilioSignature(TOKEN, `${PUBLIC}/twilio/status`, params))).status).to.equal(204);
    });
  });

  describe('logs', () => {
    it('a rejected signature names the URL it was checked against; an accepted webhook is one debug line without empty fields', async () => {
      const { logger, lines } = capturingLogger();
      const t = await startTestGateway({ PUBLIC_URL: PUBLIC, TWILIO_AUTH_TOKEN: TOKEN }, { logger });
      try {
        const forged = twilioSignature(TOKEN, 'https://old-tunnel.example.com/twilio/voice', voiceParams);
        expect((await post(t.baseUrl, '/twilio/voice', voiceParams, forged)).status).to.equal(403);
        const rejected = lines.find((l) => l.level === 'warn' && String(l.message).includes('signature'));
        expect(rejected).to.include({ checkedUrl: 'https://gw.example.com/twilio/voice', hasSignature: true });

        const params = { CallSid: 'CA9', CallStatus: 'ringing', SequenceNumber: '1' };
        expect((await post(t.baseUrl, '/twilio/status', params, twilioSignature(TOKEN, `${PUBLIC}/twilio/status`, params))).status).to.equal(204);
        const debug = lines.filter((l) => l.level === 'debug' && l.message === 'twilio webhook');
        expect(debug).to.have.length(1);
        expect(debug[0]).to.include({ path: '/status', callSid: 'CA9', callStatus: 'ringing', sequence: '1' });

        // The media-stream upgrade too: its checked URL, with the call's token left out of the log.
        const stream = await inboundStream(t, TOKEN, 'CA10');
        const ws = new WebSocket(stream.url, { headers: { 'X-Twilio-Signature': twilioSignature(TOKEN, stream.publicUrl.replace('gw.', 'old.')) } });
        ws.on('error', () => undefined);
        const status = await new Promise<number | undefined>((resolve) => {
          ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
          ws.once('open', () => resolve(101));
        });
        ws.terminate();
        expect(status).to.equal(403);
        const refused = lines.find((l) => l.message === 'refused a media-stream upgrade');
        expect(refused).to.include({ why: 'bad_signature', checkedUrl: 'wss://gw.example.com/twilio/media-stream/{token}' });
        for (const line of lines) expect(Object.values(line), JSON.stringify(line)).to.not.include(undefined);
      } finally {
        await t.close();
      }
    });
  });

  describe('while draining', () => {
    it('refuses new calls with a busy reject and reports draining on /health', async () => {
      const t = await startTestGateway({ PUBLIC_URL: PUBLIC });
      try {
        await t.gateway.drain(0);
        const twiml = await (await post(t.baseUrl, '/twilio/voice', voiceParams)).text();
        expect(twiml).to.contain('<Reject reason="busy"/>');
        expect(await (await fetch(`${t.baseUrl}/health`)).json()).to.have.property('status', 'draining');
      } finally {
        await t.close();
      }
    });
  });
});
