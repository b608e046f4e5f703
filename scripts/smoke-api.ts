// Walks one task through its lifecycle against a running gateway and checks each answer: create,
// read, list, recording and analysis before a call, place the call, watch it live, stop it, read
// it again. Prints every request's status and time, and every status change the live socket sees.
// Exits 0 when every step behaved as expected, 1 otherwise. See --help.
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const USAGE = `Usage: npm run smoke -- --base-url http://127.0.0.1:3001 [options]

  --base-url URL   the gateway (default http://127.0.0.1:3001)
  --api-key KEY    the gateway's API_KEY, when it has one
  --to NUMBER      who to call (E.164; default +15555550100). With Twilio configured on the
                   gateway this really dials: pass a number you own
  --from NUMBER    caller id, when the gateway has no TWILIO_PHONE_NUMBER
  --no-websocket   do not watch the task on /ws/call/{id}
  --wait-s N       after stopping a placed call, how long to wait for its final status (default 20)
  -h, --help       this text
`;

/** Twilio's magic "valid caller id" for test credentials: used only when the gateway needs a from. */
const FALLBACK_FROM = '+15005550006';
const FINAL = new Set(['completed', 'busy', 'no-answer', 'failed', 'canceled']);

interface Options {
  baseUrl: string;
  apiKey: string | undefined;
  to: string;
  from: string | undefined;
  websocket: boolean;
  waitS: number;
}

interface Reply {
  status: number;
  body: any;
  ms: number;
}

function parseOptions(argv: string[]): Options | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'base-url': { type: 'string', default: 'http://127.0.0.1:3001' },
      'api-key': { type: 'string' },
      to: { type: 'string', default: '+15555550100' },
      from: { type: 'string' },
      'no-websocket': { type: 'boolean', default: false },
      'wait-s': { type: 'string', default: '20' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const baseUrl = values['base-url'].replace(/\/+$/, '');
  if (!/^https?:\/\//.test(baseUrl)) throw new Error(`--base-url must be an http(s) URL, got "${baseUrl}"`);
  const waitS = Number(values['wait-s']);
  if (!(waitS >= 0)) throw new Error(`--wait-s must be a number of seconds, got "${values['wait-s']}"`);
  return { baseUrl, apiKey: values['api-key'], to: values.to, from: values.from, websocket: !values['no-websocket'], waitS };
}

class Smoke {
  private readonly problems: string[] = [];

  constructor(private readonly opts: Options) {}

  get failed(): string[] {
    return this.problems;
  }

  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
    const headers: Record<string, string> = {};
    if (this.opts.apiKey) headers.authorization = `Bearer ${this.opts.apiKey}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const started = performance.now();
    const res = await fetch(this.opts.baseUrl + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const bytes = Buffer.from(await res.arrayBuffer());
    const ms = performance.now() - started;
    const isJson = res.headers.get('content-type')?.includes('json') ?? false;
    return { status: res.status, body: isJson && bytes.length > 0 ? JSON.parse(bytes.toString('utf8')) : bytes, ms };
  }

  /** One step: prints the call and its answer, and records a problem unless the status is expected. */
  async step(method: 'GET' | 'POST', path: string, expected: number[], body?: unknown, note?: (r: Reply) => string): Promise<Reply> {
    const reply = await this.request(method, path, body);
    const ok = expected.includes(reply.status);
    const detail = note?.(reply) ?? errorText(reply);
    const line = `${ok ? 'ok  ' : 'FAIL'} ${method.padEnd(4)} ${path.padEnd(66)} ${String(reply.status).padEnd(4)} ${reply.ms.toFixed(0).padStart(5)} ms  ${detail}`;
    console.log(line.trimEnd());
    if (!ok) this.problems.push(`${method} ${path} answered ${reply.status}, expected ${expected.join(' or ')}${detail ? `: ${detail}` : ''}`);
    return reply;
  }

  problem(message: string): void {
    console.log(`FAIL ${message}`);
    this.problems.push(message);
  }
}

function errorText(reply: Reply): string {
  const body = reply.body as { error?: string; message?: string } | undefined;
  return body && typeof body === 'object' && 'error' in body ? `${body.error}: ${body.message ?? ''}` : '';
}

/** Watches the task on /ws/call/{id}, printing the snapshot and every status change. */
class LiveWatch {
  readonly statuses: string[] = [];
  private socket: WebSocket | undefined;
  private waiters: Array<() => void> = [];

  static async open(opts: Options, taskId: string, smoke: Smoke): Promise<LiveWatch | undefined> {
    const watch = new LiveWatch();
    const url = `${opts.baseUrl.replace(/^http/, 'ws')}/ws/call/${encodeURIComponent(taskId)}`;
    const headers: Record<string, string> = opts.apiKey ? { authorization: `Bearer ${opts.apiKey}` } : {};
    const started = performance.now();
    const socket = new WebSocket(url, { headers });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused with HTTP ${res.statusCode}`)));
        socket.once('error', reject);
      });
    } catch (err) {
      smoke.problem(`WS   /ws/call/${taskId}: ${(err as Error).message}`);
      return undefined;
    }
    console.log(`ok   WS   ${`/ws/call/${taskId}`.padEnd(66)} open ${(performance.now() - started).toFixed(0).padStart(5)} ms`);
    watch.socket = socket;
    socket.on('message', (data) => watch.onMessage(String(data)));
    socket.on('error', () => undefined);
    return watch;
  }

  /** Resolves once a final status arrived, or after `timeoutMs`. */
  async waitForFinal(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.statuses.some((s) => FINAL.has(s)) && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 250);
      });
    }
    return this.statuses.some((s) => FINAL.has(s));
  }

  close(): void {
    this.socket?.close();
  }

  private onMessage(text: string): void {
    const message = JSON.parse(text) as { type: string; status?: string; at?: string; task?: { status: string }; reason?: string; state?: string };
    if (message.type === 'snapshot') console.log(`     live  snapshot: ${message.task?.status}`);
    if (message.type === 'status') {
      this.statuses.push(message.status!);
      console.log(`     live  status → ${message.status} (${message.at})`);
    }
    if (message.type === 'call_ended') console.log(`     live  call ended: ${message.reason}`);
    if (message.type === 'analysis') console.log(`     live  analysis: ${message.state}`);
    for (const wake of this.waiters.splice(0)) wake();
  }
}

async function createTask(smoke: Smoke, opts: Options): Promise<Reply> {
  const body = { to: opts.to, prompt: 'Smoke test: say hello and hang up.', metadata: { smoke: true }, ...(opts.from && { from: opts.from }) };
  const first = await smoke.request('POST', '/api/tasks', body);
  const needsFrom = first.status === 400 && (first.body?.details ?? []).some((d: { field: string }) => d.field === 'from');
  if (!needsFrom || opts.from) return smoke.step('POST', '/api/tasks', [201], body, taskNote);
  console.log(`     (the gateway has no TWILIO_PHONE_NUMBER; creating with --from ${FALLBACK_FROM}, Twilio's test caller id)`);
  return smoke.step('POST', '/api/tasks', [201], { ...body, from: FALLBACK_FROM }, taskNote);
}

const taskNote = (r: Reply): string => (r.body?.id ? `${r.body.id} (${r.body.status})` : errorText(r));

async function run(opts: Options): Promise<number> {
  const smoke = new Smoke(opts);
  console.log(`smoke test of ${opts.baseUrl}\n`);
  const health = await smoke.step('GET', '/health', [200], undefined, (r) => `${r.body?.status}, agent ${r.body?.agent}`);
  if (health.status !== 200) return finish(smoke);
  const created = await createTask(smoke, opts);
  const id: string | undefined = created.body?.id;
  if (created.status !== 201 || !id) return finish(smoke);
  const base = `/api/tasks/${encodeURIComponent(id)}`;
  const watch = opts.websocket ? await LiveWatch.open(opts, id, smoke) : undefined;

  await smoke.step('GET', base, [200], undefined, taskNote);
  const list = await smoke.step('GET', '/api/tasks?limit=5', [200], undefined, (r) => `${r.body?.tasks?.length} task(s)`);
  if (list.status === 200 && list.body.tasks?.[0]?.id !== id) smoke.problem('GET /api/tasks does not list the new task first');
  await smoke.step('GET', `${base}/audio`, [404], undefined, (r) => `${errorText(r)} (expected: no call yet)`);
  await smoke.step('GET', `${base}/analysis`, [409], undefined, (r) => `${errorText(r)} (expected: the call has not ended)`);

  const call = await smoke.step('POST', `${base}/call`, [200, 503], undefined, (r) =>
    r.status === 503 ? `${errorText(r)} (Twilio is not configured on the gateway; carrying on without a call)` : taskNote(r),
  );
  const placed = call.status === 200;
  await smoke.step('POST', `${base}/stop`, placed ? [200, 202] : [200], undefined, taskNote);
  if (placed && watch && !(await watch.waitForFinal(opts.waitS * 1000))) {
    smoke.problem(`no final status arrived on the live socket within ${opts.waitS} s of stopping the call`);
  }
  await smoke.step('POST', `${base}/stop`, [200, 202], undefined, (r) => `${taskNote(r)} (stopping again changes nothing)`);
  const final = await smoke.step('GET', base, [200], undefined, (r) => `${taskNote(r)}, history ${r.body?.history?.map((h: { status: string }) => h.status).join(' → ')}`);
  await smoke.step('GET', `${base}/analysis`, placed ? [200, 202, 409, 502] : [409], undefined, (r) => errorText(r) || r.body?.state);
  if (!placed && final.body?.status !== 'canceled') smoke.problem(`the task should be canceled after stop, it is ${final.body?.status}`);
  if (watch) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    console.log(`     live  status changes seen: ${watch.statuses.join(' → ') || '(none)'}`);
    watch.close();
  }
  return finish(smoke);
}

function finish(smoke: Smoke): number {
  if (smoke.failed.length === 0) {
    console.log('\nevery step behaved as expected');
    return 0;
  }
  console.log(`\n${smoke.failed.length} step(s) did not behave as expected:`);
  for (const problem of smoke.failed) console.log(`  - ${problem}`);
  return 1;
}

async function main(): Promise<void> {
  let opts: Options | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`smoke: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(1);
  }
  if (!opts) {
    console.log(USAGE);
    return;
  }
  try {
    process.exitCode = await run(opts);
  } catch (err) {
    const cause = (err as Error & { cause?: Error }).cause;
    console.error(`smoke: ${(err as Error).message}${cause ? ` (${cause.message})` : ''}; is the gateway running at ${opts.baseUrl}?`);
    process.exitCode = 1;
  }
}

void main();
