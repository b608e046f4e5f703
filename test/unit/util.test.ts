// The small shared helpers: each has one definition, used across the gateway.
import { expect } from 'chai';
import { QueryReader } from '../../src/http/query.js';
import { maskPhone } from '../../src/telemetry/redact.js';
import { closestName, editDistance } from '../../src/util/edit-distance.js';
import { isPlainObject } from '../../src/util/plain-object.js';
import { clip } from '../../src/util/text.js';

describe('util', () => {
  it('isPlainObject: object literals and null-prototype objects only', () => {
    expect(isPlainObject({})).to.equal(true);
    expect(isPlainObject(Object.create(null))).to.equal(true);
    expect(isPlainObject(JSON.parse('{"a":1}'))).to.equal(true);
    for (const value of [null, undefined, [], 'x', 1, new Date(), Buffer.alloc(1), new Map()]) expect(isPlainObject(value), String(value)).to.equal(false);
  });

  it('clip: short text as is, long text cut with an ellipsis', () => {
    expect(clip('task_1')).to.equal('task_1');
    expect(clip('x'.repeat(10_000))).to.equal(`${'x'.repeat(40)}…`);
    expect(clip('abcdef', 3)).to.equal('abc…');
  });

  it('editDistance and closestName find near misses within a budget', () => {
    expect(editDistance('AGENT_PROVIDR', 'AGENT_PROVIDER')).to.equal(1);
    expect(editDistance('kitten', 'sitting')).to.equal(3);
    expect(closestName('TWILIO_AUTH_TOKN', ['PORT', 'TWILIO_AUTH_TOKEN', 'TWILIO_ACCOUNT_SID'], 2)).to.equal('TWILIO_AUTH_TOKEN');
    expect(closestName('HOSTNAME', ['HOST', 'PORT'], 1)).to.equal(undefined);
  });

  it('maskPhone keeps the last four digits only', () => {
    expect(maskPhone('+14155550123')).to.equal('***0123');
    expect(maskPhone('client:alice')).to.equal('***');
    expect(maskPhone('1234')).to.equal('***');
    expect(maskPhone(undefined)).to.equal(undefined);
    expect(maskPhone('')).to.equal('');
  });

  it('QueryReader names every bad parameter: repeated, not digits, out of range, not allowed', () => {
    const query = new QueryReader({ limit: '1e2', status: 'nope', cursor: ['a', 'b'], component: '' });
    expect(query.int('limit', 1, 10)).to.equal(undefined);
    expect(query.oneOf('status', ['queued', 'completed'])).to.equal(undefined);
    expect(query.string('cursor')).to.equal(undefined);
    expect(query.filter('component')).to.equal(undefined);
    expect(query.errors.map((e) => e.field)).to.deep.equal(['limit', 'status', 'cursor']);
    const good = new QueryReader({ limit: '10', status: 'queued' });
    expect([good.int('limit', 1, 10), good.oneOf('status', ['queued'] as const), good.string('absent')]).to.deep.equal([10, 'queued', undefined]);
    expect(good.errors).to.deep.equal([]);
  });
});
