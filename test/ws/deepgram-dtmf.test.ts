// A keypad press reaches the Deepgram Voice Agent as a user message (`InjectUserMessage`) over the
// real converse socket, and the agent answers it; the digit stays out of logs, telemetry and the
// transcript (the service echoes the message back as the user's ConversationText).
import { expect } from 'chai';
import { FakeDeepgramAgent, REPLY_TEXT } from '../../tools/fake-deepgram-agent.js';
import { FakeTwilioCaller } from '../../tools/twilio-caller.js';
import { readMulawWav } from '../../src/audio/wav-io.js';
import { capturingLogger } from '../helpers/capturing-logger.js';
import { startTestGateway } from '../helpers/test-gateway.js';

const KEY = 'test-key';
const reply = await readMulawWav('fixtures/speech/agent-reply-8k-mulaw.wav');

describe('DTMF with the Deepgram agent', function () {
  this.timeout(20_000);

  it('sends the key as InjectUserMessage, hears the answer, and writes the digit nowhere', async () => {
    const fake = await FakeDeepgramAgent.start({ requireAuth: `Token ${KEY}`, replyAudio: [reply] });
    const log = capturingLogger('debug');
    const t = await startTestGateway(
      { AGENT_PROVIDER: 'deepgram', DEEPGRAM_API_KEY: KEY, DEEPGRAM_VOICE_AGENT_WS_URL: `${fake.url}/v1/agent/converse` },
      { logger: log.logger },
    );
    try {
      const caller = new FakeTwilioCaller({ url: t.wsUrl, speed: 8 });
      await caller.connect();
      const session = await fake.waitForSession(0, 5000);
      await session.waitFor((m) => m.type === 'Settings');
      await caller.streamSilence(300);
      await caller.waitFor(() => session.settings !== undefined && session.sent.some((m) => m.type === 'SettingsApplied'), 5000);
      caller.sendDtmf('7');
      const injected = await session.waitFor((m) => m.type === 'InjectUserMessage', 5000);
      await caller.waitFor(() => caller.marksEchoed.length >= 1, 10_000);
      await caller.stop();
      const summary = await t.nextEnded();

      expect(injected).to.deep.equal({ type: 'InjectUserMessage', content: 'The caller pressed 7 on the keypad.' });
      expect(summary.transcript.map((l) => [l.role, l.text])).to.deep.equal([['assistant', REPLY_TEXT]]);
      const everything = log.text() + JSON.stringify(t.telemetry.recent({ limit: 1000 }));
      expect(everything).to.not.contain('pressed 7').and.not.match(/"digit"/);
    } finally {
      await t.close();
      await fake.close();
    }
  });
});
