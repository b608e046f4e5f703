// What the provider stand-in tests share: the LiveKit logger the plugins need, the caller's speech
// as the PCM frames a pipeline would feed an STT, and a way to wait for a plugin's `error` event.
import type { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { initializeLogger } from '@livekit/agents';
import { AudioFrame } from '@livekit/rtc-node';
import { decodeMulaw } from '../../../src/audio/mulaw.js';
import { readMulawWav } from '../../../src/audio/wav-io.js';

/** Plugins log through LiveKit's logger, which throws until it is set up; failures are expected here. */
export function quietLivekitLogger(): void {
  initializeLogger({ pretty: false, level: 'silent' });
}

export const CALLER_1_WAV = fileURLToPath(new URL('../../../fixtures/speech/caller-1-8k-mulaw.wav', import.meta.url));
const SAMPLES_PER_FRAME = 160;

/** A mu-law fixture decoded to PCM and cut into 20 ms frames at 8 kHz, as a phone call's input arrives. */
export async function phoneFrames(wav = CALLER_1_WAV): Promise<AudioFrame[]> {
  const pcm = decodeMulaw(await readMulawWav(wav));
  const frames: AudioFrame[] = [];
  for (let at = 0; at + SAMPLES_PER_FRAME <= pcm.length; at += SAMPLES_PER_FRAME) {
    frames.push(new AudioFrame(pcm.slice(at, at + SAMPLES_PER_FRAME), 8000, 1, SAMPLES_PER_FRAME));
  }
  return frames;
}

/** `frames` of silence at 8 kHz, 20 ms each. */
export function silentFrames(count: number): AudioFrame[] {
  return Array.from({ length: count }, () => new AudioFrame(new Int16Array(SAMPLES_PER_FRAME), 8000, 1, SAMPLES_PER_FRAME));
}

export interface PluginError {
  type: string;
  label: string;
  error: Error;
  recoverable: boolean;
}

/** Listens for a plugin's `error` events (without a listener, Node throws them). */
export function pluginErrors(plugin: EventEmitter): { all: PluginError[]; first: Promise<PluginError> } {
  const all: PluginError[] = [];
  let resolveFirst!: (error: PluginError) => void;
  const first = new Promise<PluginError>((resolve) => (resolveFirst = resolve));
  plugin.on('error', (event: PluginError) => {
    all.push(event);
    resolveFirst(event);
  });
  return { all, first };
}

/** Rejects when `promise` takes longer than `ms`: a plugin that hangs fails the test instead of stalling it. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** 'settled' if the promise settles within `ms`, else 'still waiting'. */
export async function settlesWithin(ms: number, promise: Promise<unknown>): Promise<'settled' | 'still waiting'> {
  let timer: NodeJS.Timeout | undefined;
  const wait = new Promise<'still waiting'>((resolve) => (timer = setTimeout(() => resolve('still waiting'), ms)));
  const settled = promise.then(
    () => 'settled' as const,
    () => 'settled' as const,
  );
  try {
    return await Promise.race([settled, wait]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `fn` and returns the unhandled promise rejections that happened meanwhile (and one macrotask
 * after), instead of letting them reach the process. Some plugin failures surface only that way,
 * and in a process without a handler an unhandled rejection is fatal.
 */
export async function unhandledRejectionsDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onRejection = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onRejection);
  try {
    await fn();
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('unhandledRejection', onRejection);
  }
  return seen;
}

/** The keys the stand-ins check, one per provider. */
export const STAND_IN_KEYS = { grok: 'xai-test-key', openai: 'sk-test-openai', deepgram: 'dg-test-key', cartesia: 'cartesia-test-key' };

/** The pipeline's configuration pointed at the stand-ins: every key, base URL and test model. */
export function standInEnv(stands: { grok: { baseUrl: string }; openai: { baseUrl: string }; deepgram: { baseUrl: string }; cartesia: { baseUrl: string } }): Record<string, string> {
  return {
    GROK_API_KEY: STAND_IN_KEYS.grok,
    GROK_BASE_URL: stands.grok.baseUrl,
    GROK_MODEL: 'grok-test',
    OPENAI_API_KEY: STAND_IN_KEYS.openai,
    OPENAI_BASE_URL: stands.openai.baseUrl,
    OPENAI_MODEL: 'gpt-test',
    DEEPGRAM_API_KEY: STAND_IN_KEYS.deepgram,
    DEEPGRAM_STT_URL: stands.deepgram.baseUrl,
    CARTESIA_API_KEY: STAND_IN_KEYS.cartesia,
    CARTESIA_BASE_URL: stands.cartesia.baseUrl,
  };
}
