// What the gateway's promises need from the fleet, whichever worker a request lands on:
//   - stopping a call whose stream another member holds ("end-call" request);
//   - /health and /api/telemetry/* over every member (each answers its own figures);
//   - which tasks have a media stream live in another member (the analysis waits for its end).
// With one member (LocalChannel) every one of these is answered here, synchronously or nearly.
// Twilio's status callbacks need nothing from the fleet: the store orders them, whichever member
// (or instance) takes each one.
import type { CallHooks } from '../call/call-types.js';
import type { Logger } from '../telemetry/logger.js';
import type { RecentQuery, SummaryRow, TelemetryEvent } from '../telemetry/events.js';
import { RECENT_DEFAULT_LIMIT } from '../telemetry/events.js';
import type { FleetChannel } from './channel.js';
import { combineHealth, combineRecent, combineSummaries, type FleetHealth, type WorkerHealth } from './figures.js';
import { FleetRequests } from './requests.js';

const STREAM_TOPIC = 'calls.stream';

/** What this member does itself; the fleet decides where each thing runs. */
export interface LocalGateway {
  endLiveCall(taskId: string, detail: string): Promise<boolean>;
  health(): WorkerHealth;
  telemetrySummary(): SummaryRow[];
  telemetryRecent(query: RecentQuery): TelemetryEvent[];
}

export interface GatewayFleetOptions {
  channel: FleetChannel;
  local: LocalGateway;
  logger: Logger;
  /** How long a request across the fleet waits for every member's answer. */
  requestTimeoutMs?: number;
}

export class GatewayFleet {
  readonly requests: FleetRequests;
  /** Per task: the members (other than this one) with a stream of it live, and how many. */
  private readonly remoteStreams = new Map<string, Map<string, number>>();
  private readonly unsubscribe: Array<() => void>;

  constructor(private readonly options: GatewayFleetOptions) {
    const { channel, local } = options;
    this.requests = new FleetRequests(channel, options.requestTimeoutMs);
    this.requests.handle<{ taskId: string; detail: string }, boolean>('end-call', ({ taskId, detail }) => local.endLiveCall(taskId, detail));
    this.requests.handle('health', () => local.health());
    this.requests.handle('telemetry.summary', () => local.telemetrySummary());
    this.requests.handle<RecentQuery, TelemetryEvent[]>('telemetry.recent', (query) => local.telemetryRecent(query));
    this.unsubscribe = [
      channel.subscribe<{ taskId: string; live: boolean }>(STREAM_TOPIC, ({ taskId, live }, from) => {
        if (from !== channel.memberId) this.countRemoteStream(taskId, from, live ? 1 : -1);
      }),
      channel.watchMembers((members) => this.forgetGoneStreams(members)),
    ];
  }

  get memberId(): string {
    return this.options.channel.memberId;
  }

  members(): readonly string[] {
    return this.options.channel.members();
  }

  /** Hears of members joining and leaving; returns the function that stops it. */
  watchMembers(handler: (members: readonly string[]) => void): () => void {
    return this.options.channel.watchMembers(handler);
  }

  /** Ends the task's stream here, or asks the member that holds it; false when no member has one. */
  async endLiveCall(taskId: string, detail: string): Promise<boolean> {
    if (await this.options.local.endLiveCall(taskId, detail)) return true;
    if (this.options.channel.members().length < 2) return false;
    const { replies, missing } = await this.requests.ask<boolean>('end-call', { taskId, detail }, { until: (ended) => ended });
    const ended = replies.some((reply) => reply.answer);
    if (!ended && missing.length > 0) this.options.logger.warn('members did not answer a request to end a call', { taskId, members: missing });
    return ended;
  }

  async health(): Promise<FleetHealth> {
    const { replies } = await this.requests.ask<WorkerHealth>('health', undefined);
    // This member's own figures at least, should the channel fail to bring them back.
    return combineHealth(replies.length > 0 ? replies.map((r) => r.answer) : [this.options.local.health()]);
  }

  async telemetrySummary(): Promise<SummaryRow[]> {
    const { replies } = await this.requests.ask<SummaryRow[]>('telemetry.summary', undefined);
    return combineSummaries(replies.length > 0 ? replies.map((r) => r.answer) : [this.options.local.telemetrySummary()]);
  }

  async telemetryRecent(query: RecentQuery): Promise<TelemetryEvent[]> {
    const { replies } = await this.requests.ask<TelemetryEvent[]>('telemetry.recent', query);
    const parts = replies.length > 0 ? replies.map((r) => r.answer) : [this.options.local.telemetryRecent(query)];
    return combineRecent(parts, query.limit ?? RECENT_DEFAULT_LIMIT);
  }

  streamLiveElsewhere(taskId: string): boolean {
    return this.remoteStreams.has(taskId);
  }

  /**
   * Tells the other members of this member's task streams. Placed before the task service's hooks:
   * a stream's end is on the channel before the analysis trigger its end sends.
   */
  readonly callHooks: CallHooks = {
    started: (call) => {
      if (call.taskId !== undefined) this.options.channel.publish(STREAM_TOPIC, { taskId: call.taskId, live: true });
    },
    ended: (summary) => {
      // Only a stream that started (and so said it was live) ends naming its task.
      if (summary.taskId !== undefined) this.options.channel.publish(STREAM_TOPIC, { taskId: summary.taskId, live: false });
    },
  };

  close(): void {
    this.requests.close();
    for (const off of this.unsubscribe) off();
  }

  private countRemoteStream(taskId: string, member: string, delta: number): void {
    const byMember = this.remoteStreams.get(taskId) ?? new Map<string, number>();
    const count = (byMember.get(member) ?? 0) + delta;
    if (count > 0) byMember.set(member, count);
    else byMember.delete(member);
    if (byMember.size > 0) this.remoteStreams.set(taskId, byMember);
    else this.remoteStreams.delete(taskId);
  }

  /** A member that died took its streams with it. */
  private forgetGoneStreams(members: readonly string[]): void {
    const alive = new Set(members);
    for (const [taskId, byMember] of [...this.remoteStreams]) {
      for (const member of [...byMember.keys()]) if (!alive.has(member)) byMember.delete(member);
      if (byMember.size === 0) this.remoteStreams.delete(taskId);
    }
  }
}
