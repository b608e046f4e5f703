// The room agent: the entry of every job the LiveKit server dispatches to our agent worker. It
// runs in a job process the framework forks (one per room session), reads which session it
// serves from the dispatch metadata, and puts the phone calls' pipeline (the same factory, the
// same providers and fallbacks) into the room, on the room's audio. Its transcript goes to the
// room's data channel and, through the worker (agent-sink-relay.ts), to the session's record.
//
// Tools: end_call ends the session (the agent says goodbye, then leaves the room). transfer_call
// is not offered: a room has no phone line to transfer.
import { defineAgent, voice, type JobContext } from '@livekit/agents';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { closePipeline, createPipeline, telephonySessionOptions, type Pipeline } from '../agents/livekit/pipeline.js';
import { livekitTools, type CallingReply } from '../agents/livekit/tools.js';
import type { ToolCall } from '../agents/tools.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { relayedSink, type RelayedSink } from './agent-sink-relay.js';
import { parseDispatchMetadata, type RoomDispatchMetadata } from './room-agent-dispatch.js';
import { RoomTranscript } from './room-agent-transcript.js';

/** A room's audio is wideband: the streaming STT gets 16 kHz rather than the phone's 8. */
const ROOM_STT_SAMPLE_RATE = 16_000;
/** After end_call, the longest wait for the goodbye to be heard before the agent leaves anyway. */
const GOODBYE_MAX_WAIT_MS = 10_000;

export interface RoomAgentDeps {
  /** Default: read from the environment, as the gateway reads it (the job process inherits it). */
  config?: () => Config;
  /** Default: the agent worker that forked this process, through its relay. */
  sink?: RelayedSink;
}

export default defineAgent({
  entry: async (ctx: JobContext) => void (await runRoomAgent(ctx)),
});

/** What a started room agent exposes: its AgentSession, once started (tests drive turns through it). */
export interface RoomAgentRun {
  readonly id: string;
  readonly agentSession: voice.AgentSession | undefined;
}

/** One room session, from the dispatch to the agent in the room; undefined when the dispatch is unusable. */
export async function runRoomAgent(ctx: JobContext, deps: RoomAgentDeps = {}): Promise<RoomAgentRun | undefined> {
  const startedAt = Date.now();
  // A room token's own dispatch (LIVEKIT_TOKEN_AGENT_DISPATCH) carries no metadata: the agent
  // serves the room all the same, with no session to record (its lines go to the data channel only).
  const tokenDispatched = ctx.job.metadata === '';
  const sink = tokenDispatched ? unrecordedSink() : (deps.sink ?? relayedSink());
  const config = readConfig(deps.config ?? (() => loadConfig()));
  const logger = createLogger({ level: config?.logLevel ?? 'info' });
  const dispatch = tokenDispatched ? ({ ok: true, value: { session_id: `job_${ctx.job.id}` } } as const) : parseDispatchMetadata(ctx.job.metadata);
  if (!dispatch.ok) {
    logger.error(`a room agent job cannot start: ${dispatch.why}`, { jobId: ctx.job.id, room: ctx.job.room?.name });
    await sink.close();
    ctx.shutdown('invalid dispatch metadata');
    return undefined;
  }
  const session = new RoomSession(ctx, dispatch.value, sink, logger, startedAt);
  // What the job leaves behind, whichever way it ends: the session's end recorded, lines flushed.
  ctx.addShutdownCallback(() => session.finish());
  await session.record(() => sink.started(session.id, { jobId: ctx.job.id }), 'start');
  if (config) await session.run(config);
  else session.end('agent_unavailable: the configuration is invalid');
  return session;
}

/** The sink of an agent with no session record: nothing to report to, nothing to connect. */
function unrecordedSink(): RelayedSink {
  const nothing = async (): Promise<void> => undefined;
  return { started: nothing, line: nothing, ended: nothing, close: nothing };
}

function readConfig(read: () => Config): Config | undefined {
  try {
    return read();
  } catch (error) {
    const problems = error instanceof ConfigError ? error.problems.map((p) => `${p.variable}: ${p.problem}`).join('; ') : (error as Error).message;
    console.error(`room agent: the configuration is invalid (${problems})`);
    return undefined;
  }
}

class RoomSession implements RoomAgentRun {
  readonly id: string;
  private session: voice.AgentSession | undefined;
  private reason = 'job_ended';
  private ending = false;
  private pipeline: Pipeline | undefined;
  private transcript: RoomTranscript | undefined;
  private goodbye: NodeJS.Timeout | undefined;

  constructor(
    private readonly ctx: JobContext,
    private readonly dispatch: RoomDispatchMetadata,
    private readonly sink: RelayedSink,
    private readonly logger: Logger,
    private readonly startedAt: number,
  ) {
    this.id = dispatch.session_id;
  }

  get agentSession(): voice.AgentSession | undefined {
    return this.session;
  }

  async run(config: Config): Promise<void> {
    try {
      await this.ctx.connect();
    } catch (error) {
      const why = (error as Error).message;
      this.logger.warn('the room agent could not join its room', { sessionId: this.id, room: this.ctx.job.room?.name, error: why });
      return this.end(`room_unreachable: ${why}`);
    }
    try {
      await this.startAgent(config);
    } catch (error) {
      const why = error instanceof ConfigError ? `missing ${error.problems.map((p) => p.variable).join(', ')}` : (error as Error).message;
      this.logger.error('the room agent could not start its pipeline', { sessionId: this.id, error: why });
      return this.end(`agent_unavailable: ${why}`);
    }
  }

  /** Ends the job (and so the session) for `reason`; the first reason given is the one recorded. */
  end(reason: string): void {
    if (this.ending) return;
    this.ending = true;
    this.reason = reason;
    this.ctx.shutdown(reason);
  }

  /** The shutdown callback: runs once, whatever ended the job. */
  async finish(): Promise<void> {
    // Closing the session below raises its close event: the reason the job ended with stands.
    this.ending = true;
    clearTimeout(this.goodbye);
    await this.session?.close().catch(() => undefined);
    if (this.pipeline) await closePipeline(this.pipeline);
    await this.transcript?.settled();
    await this.record(() => this.sink.ended(this.id, this.reason), 'end');
    await this.sink.close();
  }

  /** A sink call that fails is logged: the room session goes on without its record. */
  async record(call: () => Promise<void>, what: string): Promise<void> {
    await call().catch((error: Error) => this.logger.error(`could not record the room session's ${what}`, { sessionId: this.id, error: error.message }));
  }

  private async startAgent(config: Config): Promise<void> {
    const pipeline = createPipeline(config, { sttSampleRate: ROOM_STT_SAMPLE_RATE });
    this.pipeline = pipeline;
    const session = new voice.AgentSession({ stt: pipeline.stt, llm: pipeline.llm, tts: pipeline.tts, ...telephonySessionOptions(config.vad) });
    this.session = session;
    const E = voice.AgentSessionEventTypes;
    session.on(E.UserStateChanged, (ev) => pipeline.callerSpeech.set(ev.newState === 'speaking'));
    session.on(E.Error, (ev) => {
      const { error, recoverable, label } = ev.error as { error?: Error; recoverable: boolean; label?: string };
      this.logger.warn('a room agent provider failed', { sessionId: this.id, provider: label, recoverable, error: error?.message });
    });
    session.on(E.Close, (ev) => this.end(`session_closed: ${ev.reason}`));
    this.transcript = new RoomTranscript({
      sessionId: this.id,
      sink: this.sink,
      // Undefined until the agent has joined (and in a room-less test run).
      publisher: () => this.ctx.room?.localParticipant,
      startedAt: this.startedAt,
      logger: this.logger,
    });
    this.transcript.attach(session);
    const tools = livekitTools({ transferAvailable: false }, (call, reply) => this.onToolCall(call, reply));
    const agent = new voice.Agent({ instructions: this.dispatch.system_prompt ?? config.systemPrompt, tools });
    await session.start({ agent, room: this.ctx.room });
    if (this.dispatch.greeting) session.say(this.dispatch.greeting);
  }

  /** end_call: the goodbye is protected from barge-in and heard out, then the agent leaves. */
  private onToolCall(call: ToolCall, reply: CallingReply): undefined {
    if (call.tool !== 'end_call' || this.goodbye) return undefined;
    reply.protect();
    const leave = (): void => this.end(`agent_ended: ${call.reason ?? 'the agent ended the session'}`);
    this.goodbye = setTimeout(leave, GOODBYE_MAX_WAIT_MS);
    void reply.over().then(leave);
    return undefined;
  }
}
