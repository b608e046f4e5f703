// Places a simulated Twilio call against a running gateway: waits for the agent's greeting, streams
// WAV files as the caller's voice, waits for each reply, and saves what the caller heard. See --help.
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { readMulawWav } from '../src/audio/wav-io.js';
import { awaitAgentTurn, callOver } from '../tools/conversation.js';
import { FakeTwilioCaller, randomSid, type CallerEvent } from '../tools/twilio-caller.js';

const MEDIA_STREAM_PATH = '/twilio/media-stream';
const DTMF_GAP_MS = 200;
const STOP_TIMEOUT_MS = 3000;
/** An agent that has not started its greeting this long after the call connects has none (echo). */
const GREETING_START_MS = 3000;
/** Without --gap-ms, each WAV waits for the agent's reply (its mark echoed) at most this long... */
const REPLY_WAIT_MS = 20_000;
/** ...and then this much more, as a caller pauses before speaking again. */
const PAUSE_AFTER_REPLY_MS = 500;
/** How long the gateway may take to finish the recording once the call ends. */
const RECORDING_WAIT_MS = 3000;

const USAGE = `Usage: npm run simulate-call -- --url ws://127.0.0.1:3001${MEDIA_STREAM_PATH} --wav a.wav [options]

Plays Twilio's side of a <Connect><Stream> call against the gateway's media-stream socket.

  --url URL           media-stream WebSocket URL (required)
  --wav FILE          8 kHz mono mu-law WAV to speak; repeat for several utterances (required)
  --gap-ms MS         silence between WAVs (default: wait until the agent's reply has played,
                      up to ${REPLY_WAIT_MS / 1000} s of call time, then ${PAUSE_AFTER_REPLY_MS} ms). The greeting, if
                      the agent has one, is always heard before the first WAV, and the last
                      reply before hanging up, each up to ${REPLY_WAIT_MS / 1000} s.
  --speed N           1 = real time, 10 = ten times faster, Infinity = as fast as possible (default 1)
  --dtmf DIGIT        DTMF digit to press after the audio; repeatable
  --param KEY=VALUE   start.customParameters entry; repeatable
  --auth-token T      Twilio auth token: act as Twilio with signature checks on (signed POST
  --public-url URL    /twilio/voice, then the call's own stream URL from its TwiML, signed
                      over <this URL's host>); both or neither
  --out FILE          where to save what the caller heard (default recordings/simulated-heard-<time>.wav)
  --tail-ms MS        silence to keep streaming after the last reply, before hanging up (default 500)
  --recordings-dir D  the gateway's RECORDINGS_DIR, to find its recording of this call
                      when it runs on this machine (default recordings)
  -h, --help          this text
`;

interface SimulateOptions {
  url: string;
  wavs: string[];
  /** Undefined: wait for the agent's reply between WAVs. */
  gapMs: number | undefined;
  speed: number;
  dtmf: string[];
  params: Record<string, string>;
  signing: { authToken: string; publicUrl: string } | undefined;
  out: string;
  tailMs: number;
  recordingsDir: string;
}

function numberArg(name: string, raw: string, allowInfinity = false): number {
  const n = Number(raw);
  const ok = allowInfinity ? n > 0 : Number.isFinite(n) && n >= 0;
  if (!ok) throw new Error(`--${name} must be a ${allowInfinity ? 'positive number or Infinity' : 'number ≥ 0'}, got "${raw}"`);
  return n;
}

function paramsArg(pairs: string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--param must be key=value, got "${pair}"`);
    params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return params;
}

function signingArgs(authToken?: string, publicUrl?: string): SimulateOptions['signing'] {
  if (authToken === undefined && publicUrl === undefined) return undefined;
  if (!authToken || !publicUrl) throw new Error('--auth-token and --public-url go together');
  return { authToken, publicUrl };
}

function defaultOut(): string {
  return `recordings/simulated-heard-${new Date().toISOString().replace(/[:.]/g, '-')}.wav`;
}

/** Returns undefined when --help was asked for. */
function parseOptions(argv: string[]): SimulateOptions | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      url: { type: 'string' },
      wav: { type: 'string', multiple: true },
      'gap-ms': { type: 'string' },
      speed: { type: 'string', default: '1' },
      dtmf: { type: 'string', multiple: true },
      param: { type: 'string', multiple: true },
      'auth-token': { type: 'string' },
      'public-url': { type: 'string' },
      out: { type: 'string' },
      'tail-ms': { type: 'string', default: '500' },
      'recordings-dir': { type: 'string', default: 'recordings' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (!values.url) throw new Error('--url is required');
  if (!values.wav?.length) throw new Error('at least one --wav is required');
  const dtmf = values.dtmf ?? [];
  const badDigit = dtmf.find((d) => !/^[0-9*#]$/.test(d));
  if (badDigit !== undefined) throw new Error(`--dtmf takes one of 0-9 * #, got "${badDigit}"`);
  return {
    url: values.url,
    wavs: values.wav,
    gapMs: values['gap-ms'] === undefined ? undefined : numberArg('gap-ms', values['gap-ms']),
    speed: numberArg('speed', values.speed, true),
    dtmf,
    params: paramsArg(values.param ?? []),
    signing: signingArgs(values['auth-token'], values['public-url']),
    out: values.out ?? defaultOut(),
    tailMs: numberArg('tail-ms', values['tail-ms']),
    recordingsDir: values['recordings-dir'],
  };
}

interface StreamTarget {
  url: string;
  headers: Record<string, string>;
  callSid: string | undefined;
}

/**
 * With signature checks on, each call has its own stream URL (a token in its path), so do what
 * Twilio does: POST the signed voice webhook for a new CallSid, take the stream URL from the
 * TwiML, and sign the upgrade over that public wss:// URL.
 */
async function streamTarget(opts: SimulateOptions): Promise<StreamTarget> {
  const signing = opts.signing;
  if (!signing) return { url: opts.url, headers: {}, callSid: undefined };
  let publicOrigin: string;
  try {
    publicOrigin = new URL(signing.publicUrl).origin;
  } catch {
    throw new Error(`--public-url is not a URL: "${signing.publicUrl}"`);
  }
  // Loaded only when signing: the twilio SDK is large.
  const { default: twilio } = await import('twilio');
  const callSid = randomSid('CA');
  const body = { CallSid: callSid, Direction: 'inbound' };
  const local = new URL(opts.url);
  const res = await fetch(`${local.protocol === 'wss:' ? 'https:' : 'http:'}//${local.host}/twilio/voice`, {
    method: 'POST',
    headers: { 'x-twilio-signature': twilio.getExpectedTwilioSignature(signing.authToken, `${publicOrigin}/twilio/voice`, body) },
    body: new URLSearchParams(body),
  });
  const twiml = await res.text();
  const streamUrl = /<Stream url="([^"]+)"/.exec(twiml)?.[1];
  if (!res.ok || streamUrl === undefined) throw new Error(`POST /twilio/voice answered ${res.status} without a stream URL: ${twiml.slice(0, 200)}`);
  return {
    url: `${local.protocol}//${local.host}${new URL(streamUrl).pathname}`,
    headers: { 'X-Twilio-Signature': twilio.getExpectedTwilioSignature(signing.authToken, streamUrl, {}) },
    callSid,
  };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(3)}s`;

/**
 * Prints events as they happen. Media frames come 50 a second, so a run of them becomes one
 * line, printed when something else happens.
 */
class EventPrinter {
  private run: { first: CallerEvent; last: CallerEvent; frames: number; bytes: number } | undefined;

  print(e: CallerEvent): void {
    if (e.kind === 'media') return this.addMedia(e);
    this.flush();
    console.log(`  ${seconds(e.at).padStart(9)}  ${e.kind.padEnd(12)} ${e.detail ?? ''}`.trimEnd());
  }

  flush(): void {
    if (!this.run) return;
    const { first, last, frames, bytes } = this.run;
    const span = frames > 1 ? ` (received until ${seconds(last.at)})` : '';
    console.log(`  ${seconds(first.at).padStart(9)}  ${'media'.padEnd(12)} ${frames} frame(s), ${bytes / 8} ms of audio${span}`);
    this.run = undefined;
  }

  private addMedia(e: CallerEvent): void {
    const bytes = Number.parseInt(e.detail ?? '0', 10);
    if (!this.run) this.run = { first: e, last: e, frames: 0, bytes: 0 };
    this.run.last = e;
    this.run.frames++;
    this.run.bytes += bytes;
  }
}

/** Logs what a wait for the agent came to, when it is not the usual outcome. */
function noteTurn(caller: FakeTwilioCaller, what: string, outcome: Awaited<ReturnType<typeof awaitAgentTurn>>): void {
  if (outcome === 'timeout') console.log(`  ${seconds(caller.now()).padStart(9)}  (no end of the ${what} after ${REPLY_WAIT_MS / 1000} s; going on)`);
  if (outcome === 'silent') console.log(`  ${seconds(caller.now()).padStart(9)}  (no ${what}: the agent did not speak)`);
}

/**
 * Keeps the line open (silence) until the agent's reply has played in full, shown by a mark
 * echoed after the caller stopped speaking, then pauses. Speaking over the reply would be a
 * barge-in, which is what --gap-ms is for.
 */
async function awaitReply(caller: FakeTwilioCaller, what: string): Promise<void> {
  noteTurn(caller, what, await awaitAgentTurn(caller, { sinceMs: caller.now(), timeoutMs: REPLY_WAIT_MS }));
  if (!callOver(caller)) await caller.streamSilence(PAUSE_AFTER_REPLY_MS);
}

async function speak(caller: FakeTwilioCaller, opts: SimulateOptions, audio: Buffer[]): Promise<void> {
  const greeting = await awaitAgentTurn(caller, { sinceMs: 0, startWithinMs: GREETING_START_MS, timeoutMs: REPLY_WAIT_MS });
  if (greeting !== 'silent') noteTurn(caller, 'greeting', greeting);
  for (const [i, mulaw] of audio.entries()) {
    if (callOver(caller)) return;
    if (i > 0 && opts.gapMs !== undefined) await caller.streamSilence(opts.gapMs);
    console.log(`  ${seconds(caller.now()).padStart(9)}  (caller speaks ${basename(opts.wavs[i]!)}, ${mulaw.length / 8} ms)`);
    await caller.streamAudio(mulaw);
    if (opts.gapMs === undefined) await awaitReply(caller, 'reply');
  }
  for (const digit of opts.dtmf) {
    await caller.streamSilence(DTMF_GAP_MS);
    if (callOver(caller)) return;
    caller.sendDtmf(digit);
  }
  if (opts.gapMs !== undefined) await awaitReply(caller, 'last reply');
  if (!callOver(caller)) await caller.streamSilence(opts.tailMs);
}

/**
 * The gateway names its recording `<start>_<CallSid>_<StreamSid>.wav` and logs its path when the
 * call ends. When it runs on this machine, the file is found in its recordings folder.
 */
async function findRecording(dir: string, caller: FakeTwilioCaller): Promise<string | undefined> {
  const suffix = `_${caller.callSid}_${caller.streamSid}.wav`;
  const until = Date.now() + RECORDING_WAIT_MS;
  while (Date.now() < until) {
    const names = await readdir(dir).catch(() => [] as string[]);
    const name = names.find((n) => n.endsWith(suffix));
    if (name !== undefined) return join(dir, name);
    await sleep(100);
  }
  return undefined;
}

function printSummary(caller: FakeTwilioCaller, out: string, recording: string | undefined, opts: SimulateOptions): void {
  const mediaFrames = caller.events.filter((e) => e.kind === 'media').length;
  const receivedMs = caller.receivedAudio().length / 8;
  const marks = caller.marksEchoed;
  console.log('\nsummary');
  console.log(`  frames sent       ${caller.framesSent} (${caller.framesSent * 20} ms of caller audio)`);
  console.log(`  media received    ${mediaFrames} frame(s), ${receivedMs} ms of audio`);
  console.log(`  marks echoed      ${marks.length}${marks.length ? ` (${marks.join(', ')})` : ''}`);
  console.log(`  clears            ${caller.clears}`);
  console.log(`  invalid frames    ${caller.invalidFrames.length}`);
  for (const reason of caller.invalidFrames) console.log(`    - ${reason}`);
  console.log(`  heard audio       ${out}`);
  console.log(`  call              CallSid ${caller.callSid}, stream ${caller.streamSid}`);
  if (recording !== undefined) console.log(`  gateway recording ${recording}`);
  else console.log(`  gateway recording not in ${opts.recordingsDir}/ (yet): look for *_${caller.callSid}_${caller.streamSid}.wav in its RECORDINGS_DIR, or its "call ended" log line`);
  const taskId = opts.params['taskId'];
  if (taskId !== undefined) console.log(`  task              GET /api/tasks/${taskId} (transcript), /api/tasks/${taskId}/audio, /api/tasks/${taskId}/analysis`);
}

async function simulate(opts: SimulateOptions): Promise<number> {
  const audio = await Promise.all(opts.wavs.map((file) => readMulawWav(file)));
  const printer = new EventPrinter();
  const target = await streamTarget(opts);
  const caller = new FakeTwilioCaller({
    url: target.url,
    headers: target.headers,
    callSid: target.callSid,
    customParameters: opts.params,
    speed: opts.speed,
    onEvent: (e) => printer.print(e),
  });
  console.log(`calling ${target.url} as ${caller.callSid} (stream ${caller.streamSid}) at speed ${opts.speed}`);
  try {
    await caller.connect();
  } catch (err) {
    console.error(`simulate-call: ${(err as Error).message}`);
    return 1;
  }
  // Ctrl-C ends the call the way a caller hanging up would, and still prints the summary.
  process.once('SIGINT', () => void caller.stop(STOP_TIMEOUT_MS));
  await speak(caller, opts, audio);
  await caller.stop(STOP_TIMEOUT_MS);
  printer.flush();
  await caller.saveHeardWav(opts.out);
  printSummary(caller, opts.out, await findRecording(opts.recordingsDir, caller), opts);
  return 0;
}

async function main(): Promise<number> {
  let opts: SimulateOptions | undefined;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`simulate-call: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    console.log(USAGE);
    return 0;
  }
  try {
    return await simulate(opts);
  } catch (err) {
    // Unreadable or wrong-format WAVs land here too; their messages name the file.
    console.error(`simulate-call: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = await main();
