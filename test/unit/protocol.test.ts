import { expect } from 'chai';
import { parseInbound } from '../../src/twilio/protocol.js';
describe('smoke', () => { it('parses', () => { const r = parseInbound('{"event":"connected","protocol":"Call","version":"1.0.0"}', Buffer.alloc(200)); expect(r.ok).to.equal(true); }); });
