// The configuration that decides who may open a media stream: an https PUBLIC_URL whenever
// signatures are checked (Twilio streams only to wss://), and the cap on concurrent streams.
import { expect } from 'chai';
import { loadConfig } from '../../src/config.js';

describe('config: media-stream admission', () => {
  it('refuses an http:// PUBLIC_URL with TWILIO_AUTH_TOKEN set, saying Twilio needs a wss:// stream URL', () => {
    expect(() => loadConfig({ TWILIO_AUTH_TOKEN: 't', PUBLIC_URL: 'http://gw.example.com' })).to.throw(/PUBLIC_URL.*https.*wss:\/\//);
    expect(loadConfig({ TWILIO_AUTH_TOKEN: 't', PUBLIC_URL: 'https://gw.example.com' }).publicUrl).to.equal('https://gw.example.com');
    // Without signature checks a local http origin stays fine (the simulator's case).
    expect(loadConfig({ PUBLIC_URL: 'http://127.0.0.1:3001' }).publicUrl).to.equal('http://127.0.0.1:3001');
  });

  it('caps concurrent streams at MAX_CONCURRENT_CALLS, 150 by default', () => {
    expect(loadConfig({}).maxConcurrentCalls).to.equal(150);
    expect(loadConfig({ MAX_CONCURRENT_CALLS: '20' }).maxConcurrentCalls).to.equal(20);
    expect(() => loadConfig({ MAX_CONCURRENT_CALLS: '0' })).to.throw(/MAX_CONCURRENT_CALLS/);
    expect(() => loadConfig({ MAX_CONCURRENT_CALLS: 'many' })).to.throw(/MAX_CONCURRENT_CALLS/);
  });
});
