// The operator console in headless Chromium against a whole gateway: a task created in the form
// (its 400 shown beside the field), its call simulated by the fake Twilio caller through the
// fake Deepgram agent (a transcript, a barge-in), the transcript watched live, the finished
// call's timeline checked against the recording itself, the audio played; and a call from the
// browser's (fake) microphone through the echo agent.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { decodeMulaw } from '../../src/audio/mulaw.js';
import { readMulawWav, writePcmWav } from '../../src/audio/wav-io.js';
import { PLOT_LEFT, TimeScale } from '../../src/console/client/timeline/layout.js';
import { speechSegments } from '../../src/console/client/timeline/segments.js';
import { parseWav } from '../../src/console/client/timeline/wav.js';
import type { CallView } from '../../src/calls/schemas.js';
import type { TaskView } from '../../src/tasks/view.js';
import { FakeDeepgramAgent } from '../../tools/fake-deepgram-agent.js';
import { startFakeLlm, FAKE_LLM_MODEL, type FakeLlm } from '../../tools/fake-llm.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { api, eventually } from '../helpers/task-api.js';
import { startTestGateway, type TestGateway } from '../helpers/test-gateway.js';
import { chromiumMissing, launch, screenshot, watchPageErrors } from './browser.js';

const SPEED = 2;
const caller1 = await readMulawWav('fixtures/speech/caller-1-8k-mulaw.wav');
const caller2 = await readMulawWav('fixtures/speech/caller-2-8k-mulaw.wav');
const reply = await readMulawWav('fixtures/speech/agent-reply-8k-mulaw.wav');
const greeting = await readMulawWav('fixtures/speech/agent-greeting-8k-mulaw.wav');

/** What the tests touch of the page's <audio> (the tests' TypeScript has no DOM types). */
interface MediaElement {
  play(): Promise<void>;
  pause(): void;
  currentTime: number;
}

/** Where the console draws a time: x = left + t / duration × the axis's width, written out here as the oracle. */
const xOf = (ms: number, durationMs: number) => PLOT_LEFT + (ms / durationMs) * new TimeScale(durationMs / 1000).plotWidth;

describe('operator console (headless Chromium)', function () {
  this.timeout(60_000);
  let browser: Browser | undefined;

  before(function () {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`      ${missing}`);
      this.skip();
    }
  });

  afterEach(async () => {
    await browser?.close();
    browser = undefined;
  });

  describe('a task call, live and afterwards', () => {
    let fake: FakeDeepgramAgent;
    let llm: FakeLlm;
    let t: TestGateway;

    before(async () => {
      if (chromiumMissing()) return;
      // Two replies: the first is interrupted by the caller's second turn, the second plays out.
      fake = await FakeDeepgramAgent.start({ replyAudio: [reply, greeting], replyPaceMs: 20 });
      llm = await startFakeLlm();
      t = await startTestGateway({
        AGENT_PROVIDER: 'deepgram',
        DEEPGRAM_API_KEY: 'dg-key',
        DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}/v1/agent/converse`,
        LLM_PROVIDER: 'local',
        VLLM_BASE_URL: llm.baseUrl,
        VLLM_MODEL: FAKE_LLM_MODEL,
      });
    });

    after(async () => {
      await t?.close();
      await fake?.close();
      await llm?.close();
    });

    it('creates a task in the form, shows the call live, then draws its timeline at the recording’s own times and plays it', async () => {
      browser = await launch();
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors = watchPageErrors(page);
      const audioRequests: Array<{ range: string | undefined; status: number }> = [];
      page.on('response', (res) => {
        if (res.url().endsWith('/audio')) audioRequests.push({ range: res.request().headers().range, status: res.status() });
      });
      await page.goto(t.baseUrl + '/');

      // A bad number: the API's 400 detail appears beside its field.
      await page.fill('#task-to', '12345');
      await page.click('form.create button[type=submit]');
      const toError = page.locator('[data-error-for=to]');
      await toError.filter({ hasText: 'E.164' }).waitFor();
      expect(await page.getAttribute('#task-to', 'aria-invalid')).to.equal('true');
      await screenshot(page, '1-create-form-400');

      await page.fill('#task-to', '+14155550123');
      await page.fill('#task-prompt', 'Book a flight to Paris on Friday morning.');
      await page.click('form.create button[type=submit]');
      const created = page.locator('.form-done a');
      await created.waitFor();
      const taskId = (await created.textContent())!;
      expect(await toError.textContent()).to.equal('');
      const row = page.locator(`tr[data-task-id="${taskId}"]`);
      await row.locator('[data-status=created]').waitFor();
      // Placing the call needs Twilio: the API's 503 is shown on the task's row.
      await row.locator('text=Place call').click();
      await row.locator('.row-error').filter({ hasText: 'twilio_not_configured' }).waitFor();
      await screenshot(page, '2-calls');

      // The call page, opened before the call: it is watched live.
      await created.click();
      await page.locator('.call-head [data-status=created]').waitFor();
      await page.locator('.live.connected').waitFor();

      const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, customParameters: { taskId } });
      await caller.connect();
      await caller.streamAudio(caller1);
      await caller.streamSilence(700);
      await caller.waitFor((e) => e.kind === 'media', 10_000);
      // Live: the status and the caller's first line appear while the call is still up.
      await page.locator('.call-head [data-status=in-progress]').waitFor();
      await page.locator('ol.transcript li.said-user').first().waitFor();
      await caller.streamSilence(1500);
      // The caller talks over the agent's reply: a barge-in.
      const bargeInAtMs = caller.framesSent * 20;
      await caller.streamAudio(caller2);
      await caller.waitFor((e) => e.kind === 'clear', 10_000);
      const marksAtClear = caller.marksEchoed.length;
      await caller.streamSilence(700);
      caller.sendDtmf('7');
      await page.locator('.dtmf[data-dtmf-presses="1"]').waitFor();
      await page.locator('ol.transcript li.interrupted .cut').waitFor();
      await screenshot(page, '3-call-live');
      // The second reply plays out (its mark comes back), then the caller hangs up.
      await caller.waitFor(() => caller.marksEchoed.length > marksAtClear, 15_000);
      await caller.streamSilence(300);
      await caller.stop();
      const summary = await t.nextEnded(10_000);

      // Afterwards: the timeline, from the WAV the gateway kept.
      await page.locator('.call-head [data-status=completed]').waitFor({ timeout: 10_000 });
      await page.locator('svg.timeline').waitFor({ timeout: 10_000 });
      const task = (await api<TaskView>(t, 'GET', `/api/tasks/${taskId}`)).body;
      const wavBytes = await readFile(summary.recording!.path);
      const wav = parseWav(wavBytes.buffer.slice(wavBytes.byteOffset, wavBytes.byteOffset + wavBytes.byteLength));
      const durationMs = wav.durationS * 1000;
      expect(Number(await page.getAttribute('svg.timeline', 'data-duration-ms'))).to.be.closeTo(durationMs, 0.01);

      // Both channels drawn, each with real audio in it.
      for (const channel of ['caller', 'agent']) {
        const peak = Number(await page.getAttribute(`path.wave[data-channel=${channel}]`, 'data-peak'));
        expect(peak, channel).to.be.greaterThan(0.05);
      }
      // Every transcript line at its own time: the marker's drawn x is the time's place on the axis.
      expect(task.transcript.length).to.be.greaterThanOrEqual(3);
      for (const line of task.transcript.filter((l) => l.role !== 'system')) {
        const marker = page.locator(`g.said[data-at-ms="${line.atMs}"][data-role=${line.role}]`);
        expect(await marker.count(), `${line.role} line at ${line.atMs} ms`).to.equal(1);
        const drawnX = Number(await marker.locator('circle').getAttribute('cx'));
        expect(drawnX).to.be.closeTo(xOf(line.atMs, durationMs), 0.01);
      }
      // The barge-in, where the gateway recorded it: the caller's start and the agent's cut.
      const record = (await api<CallView>(t, 'GET', `/api/calls/${task.callIds!.at(-1)}`)).body;
      const recorded = record.events.filter((e) => e.type === 'barge_in');
      expect(recorded).to.have.length(1);
      const barge = page.locator('g.barge-in');
      expect(await barge.count()).to.equal(1);
      const startMs = Number(await barge.getAttribute('data-caller-start-ms'));
      const cutMs = Number(await barge.getAttribute('data-cut-ms'));
      expect(startMs).to.equal(Math.round(recorded[0]!.callerStartedAtMs));
      expect(cutMs).to.equal(Math.round(recorded[0]!.cutAtMs));
      expect(Number(await barge.locator('line.barge-start').getAttribute('x1'))).to.be.closeTo(xOf(recorded[0]!.callerStartedAtMs, durationMs), 0.01);
      expect(Number(await barge.locator('line.barge-cut').getAttribute('x1'))).to.be.closeTo(xOf(recorded[0]!.cutAtMs, durationMs), 0.01);
      // And the recording agrees: the caller's second turn starts there, and the agent is silent from the cut on.
      const secondTurn = speechSegments(wav.channels[0]!, wav.sampleRate).find((segment) => segment.start * 1000 >= bargeInAtMs - 20)!;
      expect(secondTurn.start * 1000).to.be.closeTo(startMs, 300);
      expect(cutMs).to.be.greaterThan(startMs);
      const agentAfterCut = wav.channels[1]!.subarray(Math.round(((cutMs + 40) / 1000) * 8000), Math.round(((cutMs + 300) / 1000) * 8000));
      expect(Math.max(...agentAfterCut.map(Math.abs))).to.be.lessThan(0.01);
      // Each turn's latency drawn as the gap it is: from the caller's end to the agent's start, as recorded.
      const turns = record.events.filter((e) => e.type === 'turn');
      expect(turns.length).to.be.greaterThanOrEqual(1);
      const gaps = page.locator('g.turn-gap');
      expect(await gaps.count()).to.equal(turns.length);
      for (const [index, turn] of turns.entries()) {
        const gap = gaps.nth(index);
        expect(Number(await gap.locator('rect').getAttribute('x'))).to.be.closeTo(xOf(turn.userStoppedAtMs, durationMs), 0.01);
        expect(Number(await gap.getAttribute('data-x2'))).to.be.closeTo(xOf(turn.agentStartedAtMs, durationMs), 0.01);
        expect(await gap.locator('text').textContent()).to.equal(`${Math.round(turn.latencyMs)} ms`);
      }
      // The keypad press: counted, never shown.
      expect(await page.getAttribute('.dtmf', 'data-dtmf-presses')).to.equal('1');
      expect(await page.textContent('.dtmf')).to.not.include('7');

      // The analysis beside it (the fake LLM's).
      await page.locator('.analysis .summary-text').waitFor({ timeout: 10_000 });
      await screenshot(page, '4-call-timeline');
      await screenshot(page, 'timeline-barge-in', '.timeline-panel');

      // Play: the element fetches the WAV with Range requests, and the playhead moves over the picture.
      const audio = page.locator('audio');
      await audio.evaluate((element) => (element as unknown as MediaElement).play());
      await eventually(async () => (Number(await page.getAttribute('line.playhead', 'data-seconds')) > 0.3 ? true : undefined), 10_000, 'the playhead to move');
      const x = Number(await page.getAttribute('line.playhead', 'x1'));
      expect(x).to.be.greaterThan(PLOT_LEFT);
      expect(audioRequests.some((r) => r.range !== undefined && r.status === 206), JSON.stringify(audioRequests)).to.equal(true);
      // Click the picture to seek: 5 s in.
      await audio.evaluate((element) => (element as unknown as MediaElement).pause());
      const box = (await page.locator('svg.timeline').boundingBox())!;
      const scale = box.width / new TimeScale(durationMs / 1000).viewWidth;
      await page.mouse.click(box.x + xOf(5000, durationMs) * scale, box.y + 60 * scale);
      const seekedTo = await audio.evaluate((element) => (element as unknown as MediaElement).currentTime);
      expect(seekedTo).to.be.closeTo(5, 0.05);

      await page.goto(t.baseUrl + '/#/health');
      await page.locator('tr[data-action=turn_latency]').waitFor();
      await screenshot(page, '5-health');
      expect(errors).to.deep.equal([]);
    });
  });

  describe('with API_KEY set', () => {
    let t: TestGateway;
    before(async () => {
      if (chromiumMissing()) return;
      t = await startTestGateway({ API_KEY: 'the-console-key' });
      await api(t, 'POST', '/api/tasks', { key: 'the-console-key', body: { to: '+14155550199' } });
    });
    after(async () => {
      await t?.close();
    });

    it('asks for the key once when the API answers 401, keeps it for the tab, and sends it', async () => {
      browser = await launch();
      const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      const errors = watchPageErrors(page);
      await page.goto(t.baseUrl + '/');
      const dialog = page.locator('dialog.key-dialog');
      await dialog.waitFor();
      await screenshot(page, '0-api-key');
      await dialog.locator('input').fill('a-wrong-key');
      await dialog.locator('button').click();
      await dialog.filter({ hasText: 'That key was refused' }).waitFor();
      await dialog.locator('input').fill('the-console-key');
      await dialog.locator('button').click();
      await page.locator('tr[data-task-id] [data-status=created]').waitFor();
      expect(await dialog.count()).to.equal(0);
      expect(await page.evaluate("sessionStorage.getItem('gateway-console.api-key')")).to.equal('the-console-key');
      // Another page of the same tab needs no prompt, and its live socket carries the key.
      await page.locator('tr[data-task-id] a').first().click();
      await page.locator('.live.connected').waitFor();
      expect(await dialog.count()).to.equal(0);
      expect(errors).to.deep.equal([]);
    });
  });

  describe('a call from this browser', () => {
    let t: TestGateway;
    let folder: string;

    before(async () => {
      if (chromiumMissing()) return;
      t = await startTestGateway({ AGENT_PROVIDER: 'echo' });
      folder = mkdtempSync(path.join(os.tmpdir(), 'console-mic-'));
    });

    after(async () => {
      await t?.close();
      if (folder) rmSync(folder, { recursive: true, force: true });
    });

    it('speaks the fake microphone to the echo agent as Twilio would and plays back what it said', async () => {
      // Chromium's fake microphone plays this file (in a loop): 1 s of silence, a caller's
      // sentence, then silence long enough for the echo to come back.
      const microphone = path.join(folder, 'microphone.wav');
      await writePcmWav(microphone, { sampleRate: 48_000, channels: 1, samples: upsample6(fakeMicrophone(caller1)) });
      browser = await launch(['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-audio-capture=${microphone}`]);
      const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      const errors = watchPageErrors(page);
      await page.goto(t.baseUrl + '/#/talk');
      await page.click('text=Call from this browser');
      const status = page.locator('.talk-status');
      await page.locator('.talk-status[data-state=live]').waitFor({ timeout: 10_000 });
      // The echo comes back, is played to the end of its utterance, and its mark is echoed.
      await eventually(
        async () => {
          const [marks, played] = await Promise.all([status.getAttribute('data-marks-echoed'), status.getAttribute('data-samples-played')]);
          return Number(marks) >= 1 && Number(played) >= 8000 * 2 ? true : undefined;
        },
        25_000,
        'the echo to play',
      );
      await screenshot(page, '6-talk-live');
      await page.click('text=Hang up');
      const summary = await t.nextEnded(10_000);
      await page.locator('.talk-status[data-state=ended]').waitFor();
      await screenshot(page, '7-talk-ended');
      const figure = async (name: string) => Number(await status.getAttribute(`data-${name}`));
      const figures = { framesSent: await figure('frames-sent'), agentBytes: await figure('agent-bytes'), samplesPlayed: await figure('samples-played') };

      // What the gateway recorded: the caller's sentence on the left, and its echo on the right, after it.
      const bytes = await readFile(summary.recording!.path);
      const wav = parseWav(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
      const said = speechSegments(wav.channels[0]!, wav.sampleRate).filter((segment) => segment.end - segment.start > 1);
      const echoed = speechSegments(wav.channels[1]!, wav.sampleRate).filter((segment) => segment.end - segment.start > 1);
      expect(said, 'the caller channel').to.have.length.greaterThanOrEqual(1);
      expect(echoed, 'the agent channel').to.have.length.greaterThanOrEqual(1);
      expect(echoed[0]!.start).to.be.greaterThan(said[0]!.end);
      const saidS = said[0]!.end - said[0]!.start;
      expect(echoed[0]!.end - echoed[0]!.start).to.be.closeTo(saidS, 0.5);
      // And the page: it sent 20 ms frames, received the echo and played it all.
      expect(Number(figures.framesSent)).to.be.greaterThan(150);
      const receivedS = Number(figures.agentBytes) / 8000;
      expect(receivedS).to.be.greaterThan(saidS - 0.5);
      expect(Number(figures.samplesPlayed) / 8000).to.be.closeTo(receivedS, 0.1);

      // The call is recorded and listed like any other, as a browser call, and its page draws it.
      const callId = await status.getAttribute('data-call-id');
      expect(callId).to.be.a('string');
      await page.click('text=Open the recorded call');
      await page.locator('.call-head [data-status=completed]').waitFor({ timeout: 10_000 });
      await page.locator('svg.timeline').waitFor({ timeout: 10_000 });
      expect(Number(await page.getAttribute('path.wave[data-channel=agent]', 'data-peak'))).to.be.greaterThan(0.05);
      await screenshot(page, '8-browser-call-record');
      await screenshot(page, 'timeline-browser-call', '.timeline-panel');
      await page.click('nav >> text=Calls');
      await page.locator(`tr[data-call-id="${callId}"]`).filter({ hasText: 'browser' }).waitFor();
      await screenshot(page, '9-calls-with-browser-call');
      expect(errors).to.deep.equal([]);
    });

    it('lists a new inbound call under "Calls without a task" while the page stays open, and its end', async () => {
      browser = await launch();
      const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
      const errors = watchPageErrors(page);
      await page.goto(t.baseUrl + '/');
      const list = page.locator('section[aria-label="Calls without a task"]');
      await list.locator('table, p.muted:not(:has-text("Loading"))').first().waitFor();
      // Set on this document only: a reload would lose it.
      await page.evaluate(() => ((globalThis as unknown as { sameDocument: boolean }).sameDocument = true));

      const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: SPEED, customParameters: { from: '+15550003333', direction: 'inbound' } });
      await caller.connect();
      void caller.streamSilence(1000);
      const row = list.locator('tr').filter({ hasText: '+15550003333' });
      await row.locator('[data-status=in-progress]').waitFor({ timeout: 20_000 });
      expect(await row.locator('td').nth(1).textContent()).to.equal('inbound');
      await caller.stop();
      await row.locator('[data-status=completed]').waitFor({ timeout: 20_000 });
      expect(await page.evaluate(() => (globalThis as unknown as { sameDocument?: boolean }).sameDocument)).to.equal(true);
      await screenshot(page, '10-calls-inbound-live');
      expect(errors).to.deep.equal([]);
    });
  });
});

/** One second of silence, the sentence, then eight seconds of silence, as PCM16 at 8 kHz. */
function fakeMicrophone(mulaw: Buffer): Int16Array {
  const speech = decodeMulaw(mulaw);
  const out = new Int16Array(8000 + speech.length + 8 * 8000);
  out.set(speech, 8000);
  return out;
}

/** 8 kHz to 48 kHz by linear interpolation (the fake microphone's file is at a browser's rate). */
function upsample6(input: Int16Array): Int16Array {
  const out = new Int16Array(input.length * 6);
  for (let i = 0; i < input.length; i++) {
    const a = input[i]!;
    const b = input[i + 1] ?? a;
    for (let k = 0; k < 6; k++) out[i * 6 + k] = Math.round(a + ((b - a) * k) / 6);
  }
  return out;
}
