// The room agent's transcript wiring (room-agent-transcript.ts), driven by a real AgentSession
// without a room: FakeLLM replies, one heard in full and one interrupted. What cannot run here is
// the room itself: RoomIO's audio and its transcription synchronizer (which, in a room, cuts an
// interrupted reply's text to what was heard; without audio the item keeps what the LLM had
// produced when it was cut), and rtc-node's publishData, which a recording publisher stands in for.
import { expect } from 'chai';
import { initializeLogger, llm as lkLlm, loggerOptions, voice } from '@livekit/agents';
import { RoomTranscript, TRANSCRIPT_TOPIC, transcriptLine, type DataPublisher, type TranscriptDataMessage } from '../../src/rooms/room-agent-transcript.js';
import type { SessionLine as RoomTranscriptLine } from '../../src/rooms/store.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { RecordingRoomSink } from '../helpers/recording-room-sink.js';

const GREETING_REPLY = 'Hello! Welcome to the museum.';
const LONG_REPLY = 'The east wing holds the old masters, and the west wing the moderns, with a cafe between them.';

class RecordingPublisher implements DataPublisher {
  readonly sent: Array<{ message: TranscriptDataMessage; reliable: boolean; topic: string | undefined }> = [];
  failing = false;

  async publishData(data: Uint8Array, options: { reliable: boolean; topic?: string }): Promise<void> {
    if (this.failing) throw new Error('not connected');
    this.sent.push({ message: JSON.parse(new TextDecoder().decode(data)) as TranscriptDataMessage, reliable: options.reliable, topic: options.topic });
  }
}

/** A session without a room that answers "hi" at once and "tell me more" slowly (to be cut). */
async function roomlessSession(): Promise<voice.AgentSession> {
  if (loggerOptions() === undefined) initializeLogger({ pretty: false, level: 'error' });
  const model = new voice.testing.FakeLLM([
    { input: 'hi', content: GREETING_REPLY },
    { input: 'tell me more', content: LONG_REPLY, duration: 3000 },
  ]);
  const session = new voice.AgentSession({ llm: model, vad: null as never, turnHandling: { turnDetection: 'manual' }, aecWarmupDuration: null, userAwayTimeout: null });
  await session.start({ agent: new voice.Agent({ instructions: 'You are a museum guide.' }) });
  return session;
}

/** One exchange heard in full, then one interrupted once the agent is speaking it. */
async function converse(session: voice.AgentSession): Promise<void> {
  await session.generateReply({ userInput: 'hi' }).waitForPlayout();
  const cut = session.generateReply({ userInput: 'tell me more' });
  await new Promise<void>((resolve) => {
    const onState = (ev: voice.AgentStateChangedEvent): void => {
      if (ev.newState !== 'speaking') return;
      session.off(voice.AgentSessionEventTypes.AgentStateChanged, onState);
      resolve();
    };
    session.on(voice.AgentSessionEventTypes.AgentStateChanged, onState);
  });
  cut.interrupt();
  await cut.waitForPlayout().catch(() => undefined);
}

describe('room agent transcript', function () {
  this.timeout(30_000);
  let session: voice.AgentSession | undefined;

  afterEach(async () => {
    await session?.close();
    session = undefined;
  });

  it('sends each user and assistant line, in order, to the sink and on the data channel (reliable, topic transcript)', async () => {
    session = await roomlessSession();
    const sink = new RecordingRoomSink();
    const publisher = new RecordingPublisher();
    const transcript = new RoomTranscript({ sessionId: 'sess-1', sink, publisher: () => publisher, startedAt: Date.now(), logger: capturingLogger().logger });
    transcript.attach(session);

    await converse(session);
    await transcript.settled();

    expect(sink.calls.every((c) => c.op === 'line')).to.equal(true);
    const lines = sink.calls.flatMap((c) => (c.op === 'line' ? [{ sessionId: c.sessionId, ...c.line }] : []));
    // The interrupted reply holds what the LLM had produced when it was cut: a start of it.
    const cutText = lines[3]?.text ?? '';
    expect(LONG_REPLY.startsWith(cutText), cutText).to.equal(true);
    expect(lines.map(({ atMs: _atMs, ...rest }) => rest)).to.deep.equal([
      { sessionId: 'sess-1', role: 'user', text: 'hi' },
      { sessionId: 'sess-1', role: 'assistant', text: GREETING_REPLY },
      { sessionId: 'sess-1', role: 'user', text: 'tell me more' },
      { sessionId: 'sess-1', role: 'assistant', text: cutText, interrupted: true },
    ]);
    const times = lines.map((l) => l.atMs);
    expect(times.every((t, i) => t >= 0 && (i === 0 || t >= times[i - 1]!))).to.equal(true);

    expect(publisher.sent.map((s) => [s.reliable, s.topic])).to.deep.equal(Array(4).fill([true, TRANSCRIPT_TOPIC]));
    expect(publisher.sent.map((s) => s.message)).to.deep.equal(
      lines.map((l) => ({
        type: 'transcript',
        session_id: 'sess-1',
        role: l.role,
        text: l.text,
        at_ms: l.atMs,
        ...(l.interrupted && { interrupted: true }),
      })),
    );
  });

  it('keeps the order of a slow sink, and records every line when the data channel fails', async () => {
    session = await roomlessSession();
    const sink = new RecordingRoomSink();
    // The first line takes longest to store: the later ones must wait for it, not overtake it.
    let delayMs = 300;
    const slowSink = {
      started: sink.started.bind(sink),
      ended: sink.ended.bind(sink),
      line: async (id: string, line: RoomTranscriptLine) => {
        await new Promise((resolve) => setTimeout(resolve, (delayMs = Math.max(0, delayMs - 100))));
        await sink.line(id, line);
      },
    };
    const publisher = new RecordingPublisher();
    publisher.failing = true;
    const log = capturingLogger();
    const transcript = new RoomTranscript({ sessionId: 'sess-2', sink: slowSink, publisher: () => publisher, startedAt: Date.now(), logger: log.logger });
    transcript.attach(session);

    await converse(session);
    await transcript.settled();

    expect(sink.calls.map((c) => (c.op === 'line' ? `${c.line.role}:${c.line.interrupted ? 'cut' : c.line.text}` : c.op))).to.deep.equal([
      'user:hi',
      `assistant:${GREETING_REPLY}`,
      'user:tell me more',
      'assistant:cut',
    ]);
    expect(log.lines.filter((l) => l.level === 'warn' && String(l.message).includes('data channel'))).to.have.length(4);
  });

  it('publishes nothing before the agent has joined the room, and still records the lines', async () => {
    session = await roomlessSession();
    const sink = new RecordingRoomSink();
    const transcript = new RoomTranscript({ sessionId: 'sess-3', sink, publisher: () => undefined, startedAt: Date.now(), logger: capturingLogger().logger });
    transcript.attach(session);
    await session.generateReply({ userInput: 'hi' }).waitForPlayout();
    await transcript.settled();
    expect(sink.calls.map((c) => c.op)).to.deep.equal(['line', 'line']);
  });

  describe('transcriptLine', () => {
    const at = 1_000_000;
    it('keeps an interrupted reply cut before its first word, and drops an empty user turn and non-messages', () => {
      const cut = lkLlm.ChatMessage.create({ role: 'assistant', content: '', interrupted: true, createdAt: at + 2500 });
      expect(transcriptLine(cut, at)).to.deep.equal({ role: 'assistant', text: '', atMs: 2500, interrupted: true });
      expect(transcriptLine(lkLlm.ChatMessage.create({ role: 'user', content: '  ', createdAt: at }), at)).to.equal(undefined);
      expect(transcriptLine(lkLlm.ChatMessage.create({ role: 'system', content: 'prompt', createdAt: at }), at)).to.equal(undefined);
      expect(transcriptLine(lkLlm.AgentHandoffItem.create({ newAgentId: 'a' }), at)).to.equal(undefined);
    });
  });
});
