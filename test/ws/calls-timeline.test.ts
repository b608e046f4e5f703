// An inbound call through the Deepgram bridge, watched and then read back as a call record: its
// transcript, and its timeline events placed exactly on the time axis of the WAV it left behind.
import { expect } from 'chai';
import { decodeMulaw } from '../../src/audio/mulaw.js';
import { pcmFromWav, readMulawWav } from '../../src/audio/wav-io.js';
import type { BargeInEvent, CallSummaryView, CallView, TurnEvent } from '../../src/calls/schemas.js';
import { FakeDeepgramAgent } from '../../tools/fake-deepgram-agent.js';
import { FakeTwilioCaller, randomSid } from '../../tools/twilio-caller.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { api, eventually, Watcher } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';

const KEY = 'test-key';
const FRAME_MS = 20;
const SAMPLES_PER_MS = 8;
const caller1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const caller2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');
const reply = await readMulawWav('fixtures/speech/agent-reply-8k-mulaw.wav');
const greeting = await readMulawWav('fixtures/speech/agent-greeting-8k-mulaw.wav');

/** The right (agent) channel of a stereo recording. */
function agentChannel(samples: Int16Array): Int16Array {
  const out = new Int16Array(samples.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = samples[2 * i + 1]!;
  return out;
}

const firstSound = (samples: Int16Array, from = 0): number => {
  for (let i = from; i < samples.length; i++) if (samples[i] !== 0) return i;
  return -1;
};

describe('calls: an inbound call as a record, its timeline on the WAV', function () {
  this.timeout(40_000);
  let fake: FakeDeepgramAgent;
  let t: TestGateway;
  let caller: FakeTwilioCaller;
  const cap = capturingLogger('warn');

  before(async () => {
    // Each utterance in one message: however loaded the machine, the agent's audio reaches playback
    // at once and plays contiguously, so the recording can be compared with the fixture sample for sample.
    const whole = reply.length + greeting.length;
    fake = await FakeDeepgramAgent.start({ requireAuth: `Token ${KEY}`, replyAudio: [reply, greeting], chunkBytes: [whole, whole] });
    t = await startTestGateway({ AGENT_PROVIDER: 'deepgram', DEEPGRAM_API_KEY: KEY, DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}/v1/agent/converse` }, { logger: cap.logger });
  });

  after(async () => {
    caller?.close();
    await t.close();
    await fake.close();
  });

  it('records transcript, turn latency and barge-in, and every position agrees with the recording', async () => {
    caller = new FakeTwilioCaller({ url: t.wsUrl, speed: 8, callSid: randomSid('CA'), customParameters: { from: '+14155550100', to: '+14155550123' } });
    await caller.connect();
    // The call is listed as soon as its stream starts: watch it live from there.
    const live = await eventually(async () => (await api<{ calls: CallSummaryView[] }>(t, 'GET', '/api/calls?status=in-progress')).body.calls[0], 5000, 'the live call');
    expect(live).to.deep.include({ direction: 'inbound', agent: 'deepgram', from: '+14155550100', to: '+14155550123', transcriptAvailable: true });
    const watcher = await Watcher.open(t, live.id);

    await caller.streamAudio(caller1);
    await caller.streamSilence(700);
    await caller.waitFor((e) => e.kind === 'media', 10_000);
    await caller.streamSilence(300);
    const secondSpeechAt = caller.now();
    await caller.streamAudio(caller2);
    await caller.waitFor((e) => e.kind === 'clear', 10_000);
    const marksAtClear = caller.marksEchoed.length;
    const pressedAt = caller.now();
    caller.sendDtmf('7');
    await caller.streamSilence(700);
    await caller.waitFor(() => caller.marksEchoed.length > marksAtClear, 10_000);
    await caller.stop();
    await t.nextEnded();

    const call = await eventually(async () => {
      const got = await api<CallView>(t, 'GET', `/api/calls/${live.id}`);
       return got.body.status === 'completed' ? got.body : undefined;
    }, 5000, 'the ended call');
    expect(call).to.deep.include({ id: live.id, direction: 'inbound', status: 'completed', endReason: 'twilio_stop', callSid: caller.callSid });
    expect(call.audioUrl).to.equal(`/api/calls/${live.id}/audio`);
    const assistant = call.transcript.filter((l) => l.role === 'assistant');
    expect(assistant[0]!.interrupted).to.equal(true);
    expect(call.transcript.filter((l) => l.role === 'user')).to.have.length(2);

    const turns = call.events.filter((e): e is TurnEvent => e.type === 'turn');
    const bargeIns = call.events.filter((e): e is BargeInEvent => e.type === 'barge_in');
    expect(turns.length).to.be.greaterThan(0);
    expect(bargeIns).to.have.length(1);
    // A press is placed on the timeline; the digit is kept nowhere.
    const presses = call.events.filter((e) => e.type === 'dtmf');
    expect(presses).to.have.length(1);
    expect(Object.keys(presses[0]!)).to.deep.equal(['type', 'atMs']);
    // The press lies after the second speech's last frame (its frames are stamped on from where it
    // began, 20 ms apart), and near the caller's own clock: the margin is for the message's way over a
    // loaded machine, the call clock running on the wall clock between frames.
    const secondSpeechEnd = Math.floor(secondSpeechAt / FRAME_MS) * FRAME_MS + Math.ceil(caller2.length / 160) * FRAME_MS;
    expect(presses[0]!.atMs).to.be.within(secondSpeechEnd, pressedAt + 1000);

    const audio = await fetch(t.baseUrl + call.audioUrl!);
    expect(audio.status).to.equal(200);
    const wav = pcmFromWav(new Uint8Array(await audio.arrayBuffer()));
    expect(wav.channels).to.equal(2);
    const agent = agentChannel(wav.samples);
    const replyPcm = decodeMulaw(reply);

    // The answer to the first turn: the WAV's agent channel holds the reply from agentStartedAtMs on, sample for sample.
    const turn = turns[0]!;
    expect(turn.latencyMs).to.equal(turn.agentStartedAtMs - turn.userStoppedAtMs);
    const start = turn.agentStartedAtMs * SAMPLES_PER_MS;
    expect(Number.isInteger(start), 'positions lie on the sample grid').to.equal(true);
    expect(firstSound(agent, turn.userStoppedAtMs * SAMPLES_PER_MS)).to.equal(start + firstSound(replyPcm));

    // The barge-in: the reply plays up to cutAtMs and not a sample after it, where it would have gone on.
    const cut = bargeIns[0]!;
    expect(cut.callerStartedAtMs).to.be.at.least(secondSpeechAt);
    expect(cut.callerStartedAtMs).to.be.at.most(cut.signalAtMs);
    expect(cut.signalAtMs).to.be.at.most(cut.cutAtMs);
    const cutSample = cut.cutAtMs * SAMPLES_PER_MS;
    const playedInReply = cutSample - start;
    expect(agent.subarray(start, cutSample)).to.deep.equal(replyPcm.subarray(0, playedInReply));
    const after = agent.subarray(cutSample, cutSample + 200 * SAMPLES_PER_MS);
    expect(after.some((s) => s !== 0), 'agent audio after the cut').to.equal(false);
    expect(replyPcm.subarray(playedInReply, playedInReply + 200 * SAMPLES_PER_MS).some((s) => s !== 0), 'the reply would have gone on').to.equal(true);

    // The recording serves ranges, as a player seeking in it asks.
    const head = await fetch(t.baseUrl + call.audioUrl!, { headers: { Range: 'bytes=0-43' } });
    expect(head.status).to.equal(206);
    expect(head.headers.get('content-range')).to.equal(`bytes 0-43/${wav.samples.length * 2 + 44}`);
    expect(Buffer.from(await head.arrayBuffer()).subarray(0, 4).toString('latin1')).to.equal('RIFF');
    const beyond = await fetch(t.baseUrl + call.audioUrl!, { headers: { Range: `bytes=${10 ** 9}-` } });
    expect(beyond.status).to.equal(416);
    expect(await beyond.json()).to.deep.include({ error: 'range_not_satisfiable' });

    // The watcher saw it live: the snapshot, the lines and events as they were stored, the end.
    await watcher.waitFor((m) => m.type === 'call_ended', 5000);
    expect(watcher.messages[0]!.type).to.equal('call_snapshot');
    expect(watcher.messages.filter((m) => m.type === 'transcript')).to.have.length(call.transcript.length);
    expect(watcher.messages.filter((m) => m.type === 'call_event').map((m) => (m as { event: unknown }).event)).to.deep.equal(call.events);
    watcher.close();
    expect(cap.lines.filter((line) => line.level === 'error'), 'no write of the record failed').to.deep.equal([]);
  });
});
