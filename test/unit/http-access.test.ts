import type { IncomingMessage } from 'node:http';
import { expect } from 'chai';
import { bearerToken, keyMatches, upgradeCarriesKey } from '../../src/http/access.js';
import { LiveBus, type LiveEvent } from '../../src/live/bus.js';
import { liveCallTaskId } from '../../src/live/routes.js';

const upgrade = (url: string, authorization?: string) => ({ url, headers: authorization ? { authorization } : {} }) as IncomingMessage;

describe('http/access', () => {
  it('compares keys exactly, whatever their length', () => {
    expect(keyMatches('secret', 'secret')).to.equal(true);
    expect(keyMatches('secret', 'secreT')).to.equal(false);
    expect(keyMatches('secret', 'secret ')).to.equal(false);
    expect(keyMatches('secret', '')).to.equal(false);
    expect(keyMatches('secret', undefined)).to.equal(false);
  });

  it('reads a bearer token, and nothing else', () => {
    expect(bearerToken('Bearer abc')).to.equal('abc');
    expect(bearerToken('bearer   abc')).to.equal('abc');
    expect(bearerToken('Basic abc')).to.equal(undefined);
    expect(bearerToken('Bearer')).to.equal(undefined);
    expect(bearerToken('Bearer a b')).to.equal(undefined);
    expect(bearerToken(undefined)).to.equal(undefined);
  });

  it('accepts a WebSocket upgrade with the header or the token query parameter', () => {
    expect(upgradeCarriesKey('k1', upgrade('/ws/call/t', 'Bearer k1'))).to.equal(true);
    expect(upgradeCarriesKey('k1', upgrade('/ws/call/t?token=k1'))).to.equal(true);
    expect(upgradeCarriesKey('k1', upgrade('/ws/call/t?token=k2'))).to.equal(false);
    expect(upgradeCarriesKey('k1', upgrade('/ws/call/t'))).to.equal(false);
  });

  it('finds the task id of a live path only', () => {
    expect(liveCallTaskId('/ws/call/task_1')).to.equal('task_1');
    expect(liveCallTaskId('/ws/call/task_1/')).to.equal('task_1');
    expect(liveCallTaskId('/ws/call/')).to.equal(undefined);
    expect(liveCallTaskId('/ws/call/a/b')).to.equal(undefined);
    expect(liveCallTaskId('/ws/call/%E0%A4%A')).to.equal(undefined);
    expect(liveCallTaskId('/twilio/media-stream')).to.equal(undefined);
  });
});

describe('live/LiveBus', () => {
  const event: LiveEvent = { type: 'latency', metric: 'turn_latency', ms: 420 };

  it('delivers to every watcher of the task, and stops after unsubscribe', () => {
    const bus = new LiveBus();
    const seen: string[] = [];
    const stopA = bus.subscribe('t1', () => seen.push('a'));
    bus.subscribe('t1', () => seen.push('b'));
    bus.subscribe('t2', () => seen.push('other task'));
    bus.publish('t1', event);
    stopA();
    stopA();
    bus.publish('t1', event);
    expect(seen).to.deep.equal(['a', 'b', 'b']);
    expect(bus.watcherCount('t1')).to.equal(1);
  });

  it('never throws into the publisher when a watcher fails', () => {
    const failures: string[] = [];
    const bus = new LiveBus((taskId, err) => failures.push(`${taskId}: ${err.message}`));
    const seen: string[] = [];
    bus.subscribe('t1', () => {
      throw new Error('broken watcher');
    });
    bus.subscribe('t1', () => seen.push('next'));
    expect(() => bus.publish('t1', event)).to.not.throw();
    expect(seen).to.deep.equal(['next']);
    expect(failures).to.deep.equal(['t1: broken watcher']);
  });
});
