// A real gateway logger (its own formats and redaction) whose JSON lines are kept in memory, as the
// file transport would write them, for assertions on what reaches a log.
import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, type Logger, type LogLevel } from '../../src/telemetry/logger.js';

export interface CapturingLogger {
  logger: Logger;
  /** Every line logged so far, parsed. */
  lines: Array<Record<string, unknown>>;
  /** Every line as written, for "never contains" checks. */
  text(): string;
}

export function capturingLogger(level: LogLevel = 'debug'): CapturingLogger {
  const raw: string[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  const logger = createLogger({ level, console: false });
  logger.silent = false;
  logger.add(new winston.transports.Stream({ stream, format: winston.format.json() }));
  return { logger, lines, text: () => raw.join('\n') };
}
