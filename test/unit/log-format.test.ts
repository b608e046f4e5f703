// The log line's shape: fields that carry nothing are left out, on the console and in the file.
import { expect } from 'chai';
import { createLogger } from '../../src/telemetry/logger.js';
import { capturingLogger } from '../helpers/capturing-logger.js';

describe('log format', () => {
  it('drops fields whose value is undefined instead of printing key=undefined', async () => {
    const { logger, lines } = capturingLogger('info');
    logger.info('media stream started', { callSid: 'CA1', taskId: undefined, from: undefined, nested: { a: undefined, b: 1 } });
    await new Promise((resolve) => setImmediate(resolve));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.not.have.any.keys('taskId', 'from');
    expect(lines[0]).to.deep.include({ callSid: 'CA1', nested: { b: 1 } });

    const consoleLogger = createLogger({ level: 'info' });
    let text = '';
    const original = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array) => {
      text += String(chunk);
      return true;
    }) as typeof process.stdout.write;
    try {
      consoleLogger.info('media stream started', { callSid: 'CA1', taskId: undefined });
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.stdout.write = original;
    }
    expect(text).to.match(/media stream started callSid=CA1\n$/);
    expect(text).to.not.contain('undefined');
  });
});
