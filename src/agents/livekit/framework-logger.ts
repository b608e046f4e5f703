// LiveKit's own logger (pino, to stdout). The framework throws from its audio output until it is
// initialized, and it is process-wide: the first pipeline call sets it up, once.
import { initializeLogger, loggerOptions } from '@livekit/agents';
import type { LogLevel } from '../../telemetry/logger.js';

/**
 * One step quieter than ours: the framework logs every turn at info, and at debug it quotes what
 * callers said (digits keyed in included), which must stay out of logs.
 */
const FRAMEWORK_LEVEL: Record<LogLevel, string> = { error: 'error', warn: 'warn', info: 'warn', debug: 'info' };

/** Sets the framework's logger up, unless something in this process (a host, a test) already did. */
export function initializeFrameworkLogger(level: LogLevel): void {
  if (loggerOptions() !== undefined) return;
  initializeLogger({ pretty: false, level: FRAMEWORK_LEVEL[level] });
}
