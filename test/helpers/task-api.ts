// Small clients for the task API, Twilio's status callbacks and the live watcher socket, so the
// tests read as what an operator (or Twilio) does.
import WebSocket from 'ws';
import type { LiveMessage } from '../../src/live/bus.js';
import type { TestGateway } from './test-gateway.js';
import { twilioSignature } from './twilio-signing.js';

export interface ApiReply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function api<T = any>(
  t: TestGateway,
  method: 'GET' | 'POST' | 'DELETE' | 'OPTIONS',
  path: string,
  options: { body?: unknown; rawBody?: string; key?: string; headers?: Record<string, string> } = {},
): Promise<ApiReply<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(t.baseUrl + path, { method, headers, body });
  const text = await res.text();
  const isJson = res.headers.get('content-type')?.includes('json') ?? false;
  return { status: res.status, body: (isJson && text ? JSON.parse(text) : text) as T, headers: res.headers };
}

export interface CallbackSigning {
  authToken: string;
  publicUrl: string;
}

/** Posts a call-progress callback the way Twilio does for a task call: to /twilio/status?taskId=, signed. */
export async function postStatus(
  t: TestGateway,
  params: Record<string, string>,
  options: { taskId?: string; signing?: CallbackSigning } = {},
): Promise<number> {
  const path = options.taskId === undefined ? '/twilio/status' : `/twilio/status?taskId=${encodeURIComponent(options.taskId)}`;
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (options.signing) headers['x-twilio-signature'] = twilioSignature(options.signing.authToken, options.signing.publicUrl + path, params);
  const res = await fetch(t.baseUrl + path, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
  await res.arrayBuffer();
  return res.status;
}

/** A chat completion in OpenAI's wire shape. */
export function chatCompletion(content: string): object {
  return {
    id: 'chatcmpl-Task123',
    object: 'chat.completion',
    created: 1_736_000_000,
    model: 'gpt-4o-mini-2024-07-18',
    choices: [{ index: 0, message: { role: 'assistant', content, refusal: null }, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 120, completion_tokens: 60, total_tokens: 180 },
    system_fingerprint: 'fp_0123456789',
  };
}

/** Polls `probe` until it returns something other than undefined. */
export async function eventually<T>(probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A client of WS /ws/call/{id} that keeps every message it receives. */
export class Watcher {
  readonly messages: LiveMessage[] = [];
  closed: { code: number } | undefined;
  /** The fleet member that took the upgrade (its X-Gateway-Worker header). */
  worker: string | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.once('upgrade', (res) => (this.worker = res.headers['x-gateway-worker'] as string | undefined));
    socket.on('message', (data) => this.messages.push(JSON.parse(String(data)) as LiveMessage));
    socket.on('close', (code) => (this.closed = { code }));
    socket.on('error', () => undefined);
  }

  /** `t`: an in-process test gateway, or any gateway by its HTTP base URL. */
  static async open(t: Pick<TestGateway, 'baseUrl'>, taskId: string, options: { query?: string; headers?: Record<string, string> } = {}): Promise<Watcher> {
    return Watcher.openPath(t, `/ws/call/${encodeURIComponent(taskId)}${options.query ?? ''}`, options.headers);
  }

  /** A watcher on any live socket path (e.g. /ws/transcript/{id}); its messages are that socket's. */
  static async openPath(t: Pick<TestGateway, 'baseUrl'>, path: string, headers: Record<string, string> = {}): Promise<Watcher> {
    const socket = new WebSocket(t.baseUrl.replace('http', 'ws') + path, { headers });
    const watcher = new Watcher(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
      socket.once('error', reject);
    });
    return watcher;
  }

  /** The HTTP status that refused the upgrade, or 101 if it opened. */
  static async upgradeStatus(t: TestGateway, path: string, headers: Record<string, string> = {}): Promise<number> {
    const socket = new WebSocket(t.baseUrl.replace('http', 'ws') + path, { headers });
    return new Promise((resolve) => {
      socket.once('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        socket.terminate();
      });
      socket.once('open', () => {
        resolve(101);
        socket.close();
      });
      socket.once('error', () => resolve(0));
    });
  }

  /** Resolves with the first message (past or future) that matches. */
  async waitFor(match: (m: LiveMessage) => boolean, timeoutMs = 5000): Promise<LiveMessage> {
    return eventually(() => this.messages.find(match), timeoutMs, 'a live message');
  }

  close(): void {
    this.socket.close();
  }
}
