import { expect } from 'chai';
import { AssistantTurns, cutToHeard } from '../../src/agents/assistant-turns.js';
import { TurnLatencyObserver } from '../../src/call/turn-latency.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { encodeMulawSample } from '../../src/audio/mulaw.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../../src/twilio/protocol.js';

const played = (playedMs: number, totalMs: number) => ({ utteranceId: 1, playedMs, totalMs, interrupted: playedMs < totalMs });

describe('agents/AssistantTurns', () => {
  it('cuts a line to the share of its audio that played', () => {
    expect(cutToHeard('one two three four', 500, 1000)).to.equal('one two');
    expect(cutToHeard('one two three four', 1000, 1000)).to.equal('one two three four');
    expect(cutToHeard('one two three four', 0, 1000)).to.equal('');
  });

  it('writes a voiced turn once Playback reports it, cut when interrupted', () => {
    const turns = new AssistantTurns();
    turns.text('Sure. I have booked');
    turns.text('your flight.');
    turns.audio();
    expect(turns.close(true)).to.equal(undefined);
    expect(turns.played(played(2000, 4000))).to.deep.equal({ text: 'Sure. I have', interrupted: true });
  });

  it('counts a turn cut off before the agent sent all of it as interrupted, judging its length by its words', () => {
    const turns = new AssistantTurns();
    turns.text('one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty');
    turns.audio();
    turns.close(false);
    // All 1.5 s that had been sent played; 20 words take about 7.4 s, so about 4 were heard.
    expect(turns.played(played(1500, 1500))).to.deep.equal({ text: 'one two three four', interrupted: true });
  });

  it('matches reports to turns in order', () => {
    const turns = new AssistantTurns();
    for (const text of ['first turn', 'second turn']) {
      turns.text(text);
      turns.audio();
      turns.close(true);
    }
    expect(turns.played(played(100, 100))).to.deep.equal({ text: 'first turn', interrupted: false });
    expect(turns.played(played(100, 100))).to.deep.equal({ text: 'second turn', interrupted: false });
    expect(turns.played(played(100, 100))).to.equal(undefined);
  });

  it('returns a turn that never had audio at once, and flushes unreported turns at the end', () => {
    const turns = new AssistantTurns();
    turns.text('text only');
    expect(turns.close(true)).to.deep.equal({ text: 'text only', interrupted: false });
    turns.text('never reported');
    turns.audio();
    expect(turns.flush()).to.deep.equal([{ text: 'never reported', interrupted: false }]);
  });
});

describe('call/TurnLatencyObserver', () => {
  const VAD = { minSpeechS: 0.1, minSilenceS: 0.6, paddingS: 0.2 };
  const silence = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);

  async function speak(observer: TurnLatencyObserver, silenceAfterMs: number): Promise<number> {
    const speech = await readMulawWav('fixtures/speech/caller-goforward-8k-mulaw.wav');
    let at = 0;
    for (let i = 0; i + FRAME_BYTES <= speech.length; i += FRAME_BYTES, at += 20) observer.callerFrame(speech.subarray(i, i + FRAME_BYTES), at);
    for (let ms = 0; ms < silenceAfterMs; ms += 20, at += 20) observer.callerFrame(silence, at);
    return at;
  }

  it('measures from the last voiced frame, even when the agent answers inside the silence window', async () => {
    const observer = new TurnLatencyObserver(VAD);
    const now = await speak(observer, 300);
    const latency = observer.agentAudioStarted(now + 50)!;
    // The fixture's last voiced frame ends a little before its trailing silence.
    expect(latency).to.be.within(350, 900);
    expect(observer.agentAudioStarted(now + 100)).to.equal(undefined);
  });

  it('places the start of the caller\'s speech at its first loud frame, on the frames\' own clock', () => {
    const observer = new TurnLatencyObserver(VAD);
    const loud = Buffer.alloc(FRAME_BYTES, encodeMulawSample(8000));
    let at = 1000;
    for (let i = 0; i < 25; i++, at += 20) observer.callerFrame(silence, at);
    expect(observer.callerSpeechStartedAtMs(), 'no speech yet').to.equal(undefined);
    const speechAt = at;
    // minSpeechS 0.1: the VAD declares speech on the fifth loud frame; the start lies four frames back.
    for (let i = 0; i < 8; i++, at += 20) observer.callerFrame(loud, at);
    expect(observer.callerSpeechStartedAtMs()).to.equal(speechAt);
    const answer = observer.answer(at + 400);
    expect(answer, 'the caller is still speaking').to.equal(undefined);
  });

  it('reports nothing for agent audio with no caller turn before it (a greeting)', () => {
    expect(new TurnLatencyObserver(VAD).agentAudioStarted(500)).to.equal(undefined);
  });
});
