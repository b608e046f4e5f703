// A real winston logger whose lines a test can read back: every line is kept as its info object,
// synchronously, so a test can assert that a line was (or was never) written.
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '../../src/telemetry/logger.js';

export interface LogLine {
  level: string;
  message: string;
  [field: string]: unknown;
}

export function capturingLogger(level = 'debug'): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    objectMode: true,
    write(info: LogLine, _encoding, done) {
      lines.push(info);
      done();
    },
  });
  return { logger: winston.createLogger({ level, transports: [new winston.transports.Stream({ stream: sink })] }), lines };
}
