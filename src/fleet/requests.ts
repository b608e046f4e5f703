// Requests across the fleet, on top of its channel: one member asks, every member (the asker
// included) answers with its own reply, and the asker gets them all, or as many as came before
// the timeout. A member that dies while a request waits for it is given up on at once, so a dead
// worker costs nothing, not a timeout.
import { randomUUID } from 'node:crypto';
import { toError } from '../util/errors.js';
import type { FleetChannel } from './channel.js';

const REQUEST_TOPIC = 'fleet.request';
const REPLY_TOPIC = 'fleet.reply';

/** How long a request waits for the members' replies unless told otherwise. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 3000;

interface RequestMessage {
  id: string;
  kind: string;
  query: unknown;
}

interface ReplyMessage {
  id: string;
  /** The asker: every member sees every reply, and only the asker keeps it. */
  to: string;
  answer?: unknown;
  error?: string;
}

export interface FleetReply<A> {
  member: string;
  answer: A;
}

export interface FleetAnswers<A> {
  replies: FleetReply<A>[];
  /** Members that answered with an error (their handler threw). */
  failed: Array<{ member: string; error: string }>;
  /** Members that were asked and said nothing: they left the fleet, or had not answered by the timeout (or by the time `until` was met). */
  missing: string[];
}

export interface AskOptions<A> {
  timeoutMs?: number;
  /** Resolves as soon as one reply satisfies this (e.g. "I ended the call"); the rest are not waited for. */
  until?: (answer: A) => boolean;
}

type Answerer = (query: unknown, from: string) => unknown;

interface Pending {
  awaiting: Set<string>;
  answers: FleetAnswers<unknown>;
  until: ((answer: unknown) => boolean) | undefined;
  timer: NodeJS.Timeout;
  resolve: (answers: FleetAnswers<unknown>) => void;
}

export class FleetRequests {
  private readonly answerers = new Map<string, Answerer>();
  private readonly pending = new Map<string, Pending>();
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly channel: FleetChannel,
    private readonly defaultTimeoutMs = DEFAULT_REQUEST_TIMEOUT_MS,
  ) {
    this.unsubscribe = [
      channel.subscribe<RequestMessage>(REQUEST_TOPIC, (request, from) => void this.answer(request, from)),
      channel.subscribe<ReplyMessage>(REPLY_TOPIC, (reply, from) => this.collect(reply, from)),
      channel.watchMembers((members) => this.forgetGone(members)),
    ];
  }

  /** Registers this member's answer to one kind of request; it may be async, and may throw. */
  handle<Q, A>(kind: string, answer: (query: Q, from: string) => A | Promise<A>): void {
    this.answerers.set(kind, answer as Answerer);
  }

  /** Asks every member alive now; never rejects: a silent member is listed in `missing`. */
  ask<A>(kind: string, query: unknown, options: AskOptions<A> = {}): Promise<FleetAnswers<A>> {
    const id = randomUUID();
    return new Promise((resolve) => {
      const pending: Pending = {
        awaiting: new Set(this.channel.members()),
        answers: { replies: [], failed: [], missing: [] },
        until: options.until as ((answer: unknown) => boolean) | undefined,
        timer: setTimeout(() => this.settle(id), options.timeoutMs ?? this.defaultTimeoutMs),
        resolve: resolve as (answers: FleetAnswers<unknown>) => void,
      };
      this.pending.set(id, pending);
      this.channel.publish(REQUEST_TOPIC, { id, kind, query } satisfies RequestMessage);
    });
  }

  /** Gives up on every request still waiting; what came so far is answered. */
  close(): void {
    for (const id of [...this.pending.keys()]) this.settle(id);
    for (const off of this.unsubscribe) off();
  }

  private async answer(request: RequestMessage, from: string): Promise<void> {
    const answerer = this.answerers.get(request.kind);
    let reply: ReplyMessage;
    try {
      if (!answerer) throw new Error(`no answer for requests of kind ${request.kind}`);
      reply = { id: request.id, to: from, answer: await answerer(request.query, from) };
    } catch (err) {
      reply = { id: request.id, to: from, error: toError(err).message };
    }
    this.channel.publish(REPLY_TOPIC, reply);
  }

  private collect(reply: ReplyMessage, from: string): void {
    if (reply.to !== this.channel.memberId) return;
    const pending = this.pending.get(reply.id);
    if (!pending || !pending.awaiting.delete(from)) return;
    if (reply.error !== undefined) pending.answers.failed.push({ member: from, error: reply.error });
    else pending.answers.replies.push({ member: from, answer: reply.answer });
    const satisfied = reply.error === undefined && pending.until?.(reply.answer) === true;
    if (satisfied || pending.awaiting.size === 0) this.settle(reply.id);
  }

  /** A member that left will never answer: stop waiting for it. */
  private forgetGone(members: readonly string[]): void {
    const alive = new Set(members);
    for (const [id, pending] of [...this.pending]) {
      for (const member of [...pending.awaiting]) {
        if (alive.has(member)) continue;
        pending.awaiting.delete(member);
        pending.answers.missing.push(member);
      }
      if (pending.awaiting.size === 0) this.settle(id);
    }
  }

  private settle(id: string): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    pending.answers.missing.push(...pending.awaiting);
    pending.resolve(pending.answers);
  }
}
