// Reads the environment into typed values. A bad value is recorded, not thrown, so one start
// names every bad variable; a value that may hold a secret is never quoted in a problem.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { isE164 } from '../twilio/phone-number.js';
import { isPlainObject } from '../util/plain-object.js';
import { jsonErrorPosition } from './json-error-position.js';

export type Env = Record<string, string | undefined>;

export interface ConfigProblem {
  variable: string;
  problem: string;
}

/** Every bad variable at once, so an operator fixes `.env` in one go; `variable` is the first. */
export class ConfigError extends Error {
  readonly problems: readonly ConfigProblem[];

  constructor(
    readonly variable: string,
    problem: string,
    more: readonly ConfigProblem[] = [],
  ) {
    const problems = [{ variable, problem }, ...more];
    super(problems.length === 1 ? `${variable}: ${problem}` : problems.map((p) => `${p.variable}: ${p.problem}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Reads `.env` (if present) under the environment: a variable set in both keeps the environment's value. */
export function readEnv(env: Env = process.env, envFile = path.resolve('.env')): Env {
  if (!existsSync(envFile)) return { ...env };
  const fromFile = parseEnv(readFileSync(envFile, 'utf8')) as Env;
  return { ...fromFile, ...env };
}

/**
 * Variables whose values may hold a secret (a key, a token, auth headers, a URL with credentials):
 * a problem with one names the variable and what is wrong, never the value.
 */
const MAY_HOLD_SECRET = /KEY|TOKEN|SECRET|PASSWORD|AUTH|HEADERS|URL/;

/**
 * Reads typed values. A bad value is recorded as a problem and the fallback (or undefined) is
 * returned, so one run finds every bad variable; `throwIfProblems` reports them together.
 */
export class EnvReader {
  readonly namesRead = new Set<string>();
  private readonly problems: ConfigProblem[] = [];

  constructor(private readonly env: Env) {}

  /** Records a problem with `name`; the caller goes on with a fallback. */
  problem(name: string, problem: string): undefined {
    this.problems.push({ variable: name, problem });
    return undefined;
  }

  throwIfProblems(): void {
    const [first, ...more] = this.problems;
    if (first) throw new ConfigError(first.variable, first.problem, more);
  }

  optional(name: string): string | undefined {
    this.namesRead.add(name);
    const raw = this.env[name]?.trim();
    return raw ? raw : undefined;
  }

  string(name: string, fallback: string): string {
    return this.optional(name) ?? fallback;
  }

  bool(name: string, fallback: boolean): boolean {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
    if (['0', 'false', 'no', 'off'].includes(raw)) return false;
    this.problem(name, `expected true or false${got(name, raw)}`);
    return fallback;
  }

  number(name: string, fallback: number, min: number, max: number): number {
    return this.optionalNumber(name, min, max) ?? fallback;
  }

  optionalNumber(name: string, min: number, max: number): number | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isFinite(value)) return this.problem(name, `expected a number${got(name, raw)}`);
    if (value < min || value > max) return this.problem(name, `must be between ${min} and ${max}${got(name, String(value), false)}`);
    return value;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const value = this.optionalNumber(name, min, max);
    if (value === undefined) return fallback;
    if (!Number.isInteger(value)) {
      this.problem(name, `expected a whole number${got(name, String(value), false)}`);
      return fallback;
    }
    return value;
  }

  /** Seconds, written as a number of seconds (`600`) or with a unit: `90s`, `10m`, `1h`, `1d`. */
  duration(name: string, fallbackS: number, minS: number, maxS: number): number {
    const raw = this.optional(name);
    if (raw === undefined) return fallbackS;
    const match = /^(\d{1,9})\s*(s|m|h|d)?$/i.exec(raw);
    if (!match) return this.problem(name, `expected seconds or a duration such as 90s, 10m, 1h${got(name, raw)}`) ?? fallbackS;
    const seconds = Number(match[1]) * DURATION_UNITS_S[(match[2] ?? 's').toLowerCase()]!;
    if (seconds < minS || seconds > maxS) return this.problem(name, `must be between ${minS} and ${maxS} seconds${got(name, raw)}`) ?? fallbackS;
    return seconds;
  }

  matching(name: string, pattern: RegExp, what: string): string | undefined {
    const raw = this.optional(name);
    if (raw !== undefined && !pattern.test(raw)) return this.problem(name, `must be ${what}`);
    return raw;
  }

  phone(name: string): string | undefined {
    const raw = this.optional(name);
    if (raw !== undefined && !isE164(raw)) return this.problem(name, `must be an E.164 number such as +15550001111${got(name, raw)}`);
    return raw;
  }

  list(name: string): string[] {
    return (this.optional(name) ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean);
  }

  /**
   * Comma-separated http(s) origins, each normalized (`https://a.example.com/` → `https://a.example.com`).
   * `*` is refused: allowed origins are matched exactly, and a wildcard would let every web page a
   * user's browser opens call the API (an open one, without API_KEY) with that user's network access.
   */
  originList(name: string): string[] {
    const origins: string[] = [];
    for (const item of this.list(name)) {
      if (item === '*') {
        this.problem(name, '"*" is not supported: list each browser origin exactly (e.g. https://ops.example.com); a wildcard would let any web page call this API');
        continue;
      }
      const origin = parseOrigin(item);
      // An entry with user:password@ is not quoted: it may be a credential pasted by mistake.
      const shown = item.includes('@') ? 'an entry' : `"${item}"`;
      if (origin === undefined) this.problem(name, `${shown} is not an origin such as https://ops.example.com (scheme, host and port only)`);
      else origins.push(origin);
    }
    return origins;
  }

  /** Like oneOf, for values whose case matters on the wire (Twilio's MachineDetection). */
  oneOfExact<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name);
    if (raw === undefined) return fallback;
    const match = allowed.find((a) => a.toLowerCase() === raw.toLowerCase());
    if (match) return match;
    this.problem(name, `expected one of ${allowed.join(', ')}${got(name, raw)}`);
    return fallback;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.optional(name)?.toLowerCase();
    if (raw === undefined) return fallback;
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    this.problem(name, `expected one of ${allowed.join(', ')}${got(name, raw)}`);
    return fallback;
  }

  optionalUrl(name: string, protocols: string[]): string | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    const url = parseUrl(raw);
    // A URL may carry credentials (user:password@host), so it is never quoted.
    if (url === undefined) return this.problem(name, 'is not a valid URL');
    if (!protocols.includes(url.protocol)) return this.problem(name, `must use ${protocols.join(' or ')}, got ${url.protocol}`);
    return raw;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    return this.optionalUrl(name, protocols) ?? fallback;
  }

  /** An http(s) origin such as https://gw.example.com; a path or query is refused. */
  optionalOrigin(name: string): string | undefined {
    const raw = this.optionalUrl(name, ['http:', 'https:']);
    if (raw === undefined) return undefined;
    return parseOrigin(raw) ?? this.problem(name, 'must be an origin such as https://gw.example.com, without a path or query');
  }

  /** A JSON object of strings (HTTP headers). A syntax error names its position, never the text (it may hold a token). */
  jsonStringMap(name: string): Record<string, string> | undefined {
    const raw = this.optional(name);
    if (raw === undefined) return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      const at = jsonErrorPosition(raw);
      const where = at < raw.length ? `syntax error at character ${at + 1} of ${raw.length}` : `it ends before the JSON is complete`;
      return this.problem(name, `is not valid JSON (${where})`);
    }
    if (!isPlainObject(parsed)) return this.problem(name, 'must be a JSON object of header names to string values');
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== 'string') return this.problem(name, `header "${key}" must be a string`);
    }
    return parsed as Record<string, string>;
  }
}

const DURATION_UNITS_S: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** `, got "value"` for a variable that cannot hold a secret; nothing for one that may. */
function got(name: string, value: string, quoted = true): string {
  if (MAY_HOLD_SECRET.test(name)) return '';
  return quoted ? `, got "${value}"` : `, got ${value}`;
}

/** The origin of an http(s) URL that has nothing after the host; undefined otherwise. */
function parseOrigin(raw: string): string | undefined {
  const url = parseUrl(raw);
  if (url === undefined) return undefined;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username || url.password) return undefined;
  return url.origin;
}

function parseUrl(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}
