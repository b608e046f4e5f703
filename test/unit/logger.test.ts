import { expect } from 'chai';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, flushLogs, silentLogger } from '../../src/telemetry/logger.js';
import type { Logger } from '../../src/telemetry/logger.js';

const DEADLINE_MS = 5000;

/** Polls until `read` returns something, because winston writes to its transports asynchronously. */
async function eventually<T>(read: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const until = Date.now() + DEADLINE_MS;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error('timed out waiting for log output');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function fileLines(file: string, count: number): Promise<Record<string, unknown>[]> {
  return eventually(async () => {
    const text = await readFile(file, 'utf8').catch(() => '');
    const lines = text.split('\n').filter((line) => line !== '');
    return lines.length >= count ? lines.map((line) => JSON.parse(line) as Record<string, unknown>) : undefined;
  });
}

/** Captures what the console transport writes to stdout while `act` runs and output arrives. */
async function captureStdout(act: () => void, until: (text: string) => boolean): Promise<string> {
  const original = process.stdout.write;
  let text = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stdout.write;
  try {
    act();
    return await eventually(() => (until(text) ? text : undefined));
  } finally {
    process.stdout.write = original;
  }
}

function closeLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    logger.on('finish', () => resolve());
    logger.end();
  });
}

const SECRETS = {
  token: 't-1',
  authToken: 't-2',
  apiKey: 'k-1',
  api_key: 'k-2',
  'API-KEY': 'k-3',
  password: 'p-1',
  clientSecret: 's-1',
  Authorization: 'Bearer b-1',
};

describe('logger', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'logger-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes JSON lines to the file, creating its directory, and redacts secret keys', async () => {
    const file = path.join(dir, 'data', 'logs', 'service.log');
    const logger = createLogger({ level: 'info', file, console: false });
    const meta = { ...SECRETS, callSid: 'CA1', headers: { authorization: 'Bearer b-2', accept: 'json' }, list: [{ secret: 's-2' }] };
    logger.info('call started', meta);
    logger.debug('below the level');

    const [line] = await fileLines(file, 1);
    await closeLogger(logger);
    for (const key of Object.keys(SECRETS)) expect(line![key], key).to.equal('[redacted]');
    expect(line).to.deep.include({
      level: 'info',
      message: 'call started',
      callSid: 'CA1',
      headers: { authorization: '[redacted]', accept: 'json' },
      list: [{ secret: '[redacted]' }],
    });
    expect(line!['timestamp']).to.be.a('string');
    const raw = await readFile(file, 'utf8');
    for (const value of ['t-1', 't-2', 'k-1', 'k-2', 'k-3', 'p-1', 's-1', 's-2', 'b-1', 'b-2']) expect(raw).to.not.include(value);
    expect(raw).to.not.include('below the level');
    // The caller's objects are untouched.
    expect(meta.token).to.equal('t-1');
    expect(meta.headers.authorization).to.equal('Bearer b-2');
  });

  it('redacts when the whole info object is logged', async () => {
    const file = path.join(dir, 'service.log');
    const logger = createLogger({ level: 'debug', file, console: false });
    const info = { level: 'warn', message: 'upstream refused', password: 'p-9', status: 401 };
    logger.log(info);
    const [line] = await fileLines(file, 1);
    await closeLogger(logger);
    expect(line).to.deep.include({ level: 'warn', message: 'upstream refused', password: '[redacted]', status: 401 });
    expect(info.password).to.equal('p-9');
  });

  it('prints a readable console line with key=value metadata and redacted secrets', async () => {
    const logger = createLogger({ level: 'info' });
    const text = await captureStdout(
      () => logger.info('call started', { callSid: 'CA1', note: 'two words', apiKey: 'k-1', nested: { token: 't-1', n: 1 } }),
      (out) => out.includes('\n'),
    );
    await closeLogger(logger);
    expect(text).to.match(
      /^\d{4}-\d\d-\d\dT[\d:.]+Z info {2}call started callSid=CA1 note="two words" apiKey=\[redacted\] nested=\{"token":"\[redacted\]","n":1\}\n$/,
    );
  });

  it('drops fields whose value is undefined instead of printing key=undefined', async () => {
    const logger = createLogger({ level: 'info' });
    const text = await captureStdout(
      () => logger.info('media stream started', { callSid: 'CA1', taskId: undefined, nested: { a: undefined, b: 1 } }),
      (out) => out.includes('\n'),
    );
    await closeLogger(logger);
    expect(text).to.match(/media stream started callSid=CA1 nested=\{"b":1\}\n$/);
    expect(text).to.not.contain('undefined');
  });

  it('logs an Error with its message and stack', async () => {
    const file = path.join(dir, 'service.log');
    const logger = createLogger({ level: 'info', file, console: false });
    logger.error('bridge failed', { err: new Error('socket closed'), callSid: 'CA1' });
    logger.error(new Error('boom'));
    const lines = await fileLines(file, 2);
    await closeLogger(logger);
    expect(lines[0]).to.deep.include({ message: 'bridge failed', err: 'Error: socket closed', callSid: 'CA1' });
    expect(lines[1]!['message']).to.equal('boom');
    expect(lines[1]!['stack']).to.be.a('string').that.includes('Error: boom');
  });

  it('rotates service.log by size, keeps a bounded number of files and loses no line of a burst', async () => {
    const file = path.join(dir, 'service.log');
    const logger = createLogger({ level: 'info', file, console: false, maxFileBytes: 4000, maxFiles: 3 });
    const filler = 'x'.repeat(150);
    for (let i = 0; i < 200; i++) logger.info('line', { i, filler });
    const numbers = async (name: string) =>
      (await readFile(path.join(dir, name), 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { i: number }).i);
    await eventually(async () => ((await numbers('service.log')).at(-1) === 199 ? true : undefined));
    await closeLogger(logger);

    expect((await readdir(dir)).sort()).to.deep.equal(['service.log', 'service1.log', 'service2.log']);
    expect((await stat(file)).size).to.be.at.most(4000);
    for (const name of ['service1.log', 'service2.log']) expect((await stat(path.join(dir, name))).size, name).to.be.within(3000, 4000);
    // Oldest to newest, the kept files hold one unbroken run of lines that ends with the last one.
    const kept = [...(await numbers('service2.log')), ...(await numbers('service1.log')), ...(await numbers('service.log'))];
    expect(kept.at(-1)).to.equal(199);
    expect(kept).to.deep.equal(kept.map((_, k) => kept[0]! + k));
  });

  it('flushLogs resolves only once the last line is in the file (a process about to exit waits for it)', async () => {
    const file = path.join(dir, 'service.log');
    const logger = createLogger({ level: 'info', file, console: false });
    for (let i = 0; i < 50; i++) logger.info('draining', { i });
    logger.info('stopped');
    await flushLogs(logger);
    const raw = await readFile(file, 'utf8');
    expect(raw.trim().split('\n').at(-1)).to.contain('"message":"stopped"');
    await closeLogger(logger);
  });

  it('silentLogger writes nothing', async () => {
    const logger = silentLogger();
    let written = '';
    const original = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      written += String(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      logger.error('nothing to see', { token: 'x' });
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.stdout.write = original;
    }
    expect(written).to.equal('');
  });
});
