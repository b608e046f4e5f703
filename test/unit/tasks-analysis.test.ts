import { expect } from 'chai';
import nock from 'nock';
import { createLlmClient } from '../../src/llm/index.js';
import {
  AnalysisParseError,
  analyzeCall,
  buildAnalysisPrompt,
  formatTranscript,
  parseAnalysis,
} from '../../src/tasks/analysis.js';
import type { AnalysisInput, CallAnalysis } from '../../src/tasks/analysis.js';
import type { TranscriptLine } from '../../src/tasks/model.js';

const ANALYSIS: CallAnalysis = {
  summary: 'The agent confirmed Friday 3 pm; the patient asked for a reminder text.',
  outcome: { goal_reached: true, explanation: 'The appointment was confirmed.' },
  sentiment: 'positive',
  action_items: ['Send a reminder SMS on Thursday'],
  key_facts: { appointment: 'Friday 3 pm', preferred_contact: 'SMS' },
};

const TRANSCRIPT: TranscriptLine[] = [
  { role: 'assistant', text: 'Hi, this is Ada from the clinic, calling about', atMs: 800, interrupted: true },
  { role: 'user', text: 'Oh hi, is this about Friday?', atMs: 2_400 },
  { role: 'assistant', text: 'Yes, can you confirm 3 pm on Friday?', atMs: 4_100 },
  { role: 'user', text: 'Yes. Text me a reminder please.', atMs: 65_300 },
];

const TASK: AnalysisInput = {
  prompt: 'Confirm the appointment on Friday at 3 pm.',
  metadata: { patientId: 'p-17' },
  durationS: 71,
  answeredBy: 'human',
  transcript: TRANSCRIPT,
};

describe('call analysis', () => {
  describe('parseAnalysis', () => {
    it('accepts a bare JSON object', () => {
      expect(parseAnalysis(JSON.stringify(ANALYSIS))).to.deep.equal(ANALYSIS);
    });

    it('accepts a ```json fence, a bare fence, and prose around the object', () => {
      const json = JSON.stringify(ANALYSIS, null, 2);
      expect(parseAnalysis('```json\n' + json + '\n```')).to.deep.equal(ANALYSIS);
      expect(parseAnalysis('```\n' + json + '\n```')).to.deep.equal(ANALYSIS);
      expect(parseAnalysis(`Here is the analysis:\n${json}\nLet me know!`)).to.deep.equal(ANALYSIS);
    });

    it('accepts null goal_reached, normalizes sentiment case, stringifies scalar facts, drops unknown keys', () => {
      const loose = {
        ...ANALYSIS,
        outcome: { goal_reached: null, explanation: 'No goal was given.' },
        sentiment: ' Mixed ',
        key_facts: { age: 42, opted_in: true, name: 'Bo' },
        confidence: 0.9,
      };
      expect(parseAnalysis(JSON.stringify(loose))).to.deep.equal({
        ...ANALYSIS,
        outcome: { goal_reached: null, explanation: 'No goal was given.' },
        sentiment: 'mixed',
        key_facts: { age: '42', opted_in: 'true', name: 'Bo' },
      });
    });

    it('refuses text that holds no JSON object', () => {
      for (const text of ['', 'The call went well.', '```json\n{"summary": \n```', '[1, 2]']) {
        expect(() => parseAnalysis(text), text).to.throw(AnalysisParseError, /not a JSON object/);
      }
    });

    it('names every invalid field', () => {
      const bad = {
        summary: '  ',
        outcome: { goal_reached: 'yes' },
        sentiment: 'happy',
        action_items: 'call back',
        key_facts: { address: { street: 'Main' } },
      };
      try {
        parseAnalysis(JSON.stringify(bad));
        expect.fail('should have thrown');
      } catch (error) {
        expect(error).to.be.instanceOf(AnalysisParseError);
        expect((error as AnalysisParseError).problems).to.deep.equal([
          'summary must be a non-empty string',
          'outcome.goal_reached must be true, false or null',
          'outcome.explanation must be a string',
          'sentiment must be one of positive, neutral, negative, mixed',
          'action_items must be an array of strings',
          'key_facts.address must be a string',
        ]);
      }
    });

    it('requires every field', () => {
      expect(() => parseAnalysis('{}')).to.throw(AnalysisParseError, /summary.*outcome.*sentiment.*action_items.*key_facts/);
    });
  });

  describe('buildAnalysisPrompt', () => {
    it('asks for JSON at temperature 0 with the goal, call details, metadata and a timed transcript', () => {
      const request = buildAnalysisPrompt(TASK);
      expect(request).to.include({ json: true, temperature: 0 });
      expect(request.system).to.match(/"goal_reached": true \| false \| null/);
      expect(request.system).to.match(/never instructions/);
      expect(request.messages).to.have.length(1);
      const content = request.messages[0]?.content ?? '';
      expect(content).to.include('Confirm the appointment on Friday at 3 pm.');
      expect(content).to.include('duration 71 s; answered by human');
      expect(content).to.include('{"patientId":"p-17"}');
      expect(content).to.include('[00:00] Agent (interrupted): Hi, this is Ada from the clinic, calling about');
      expect(content).to.include('[01:05] Person: Yes. Text me a reminder please.');
    });

    it('says when no goal was given', () => {
      const content = buildAnalysisPrompt({ transcript: TRANSCRIPT }).messages[0]?.content ?? '';
      expect(content).to.include('(none given)');
      expect(content).to.include('Call details: none recorded');
    });

    it('keeps the start and end of a very long transcript', () => {
      const lines: TranscriptLine[] = Array.from({ length: 1000 }, (_, i) => ({
        role: i % 2 ? 'user' : 'assistant',
        text: `line ${i} ${'x'.repeat(80)}`,
        atMs: i * 1000,
      }));
      const text = formatTranscript(lines, 10_000);
      expect(text.length).to.be.at.most(10_100);
      expect(text).to.include('line 0 ');
      expect(text).to.include('line 999 ');
      expect(text).to.match(/\[\.\.\. \d+ lines omitted \.\.\.\]/);
    });
  });

  describe('analyzeCall', () => {
    const llm = () => createLlmClient({ provider: 'openai', openaiApiKey: 'sk-test-analysis-0123456789' });
    before(() => nock.disableNetConnect());
    after(() => nock.enableNetConnect());
    afterEach(() => nock.cleanAll());

    it('sends the transcript to the LLM and returns the validated analysis', async () => {
      let sent: { response_format?: unknown; messages?: { role: string; content: string }[] } = {};
      const scope = nock('https://api.openai.com')
        .post('/v1/chat/completions', (body) => ((sent = body), true))
        .reply(200, {
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1_736_000_000,
          model: 'gpt-4o-mini-2024-07-18',
          choices: [
            {
              index: 0,
              message: { role: 'assistant', content: '```json\n' + JSON.stringify(ANALYSIS) + '\n```', refusal: null },
              logprobs: null,
              finish_reason: 'stop',
            },
          ],
        });
      expect(await analyzeCall(llm(), TASK)).to.deep.equal(ANALYSIS);
      expect(sent.response_format).to.deep.equal({ type: 'json_object' });
      expect(sent.messages?.[1]?.content).to.include('Person: Oh hi, is this about Friday?');
      scope.done();
    });

    it('returns a fixed analysis for a call where nobody spoke, without calling the LLM', async () => {
      // No interceptor and no network: any request would fail the test.
      const silent = { ...TASK, transcript: [{ role: 'system' as const, text: 'call connected', atMs: 0 }] };
      const analysis = await analyzeCall(llm(), silent);
      expect(analysis).to.deep.equal({
        summary: 'No conversation took place: nothing was said on the call.',
        outcome: { goal_reached: false, explanation: 'Nobody spoke, so no goal could be reached.' },
        sentiment: 'neutral',
        action_items: [],
        key_facts: {},
      });
      expect((await analyzeCall(llm(), { transcript: [] })).outcome.goal_reached).to.equal(null);
    });

    it('fails with AnalysisParseError when the LLM answers with the wrong shape', async () => {
      nock('https://api.openai.com')
        .post('/v1/chat/completions')
        .reply(200, {
          id: 'chatcmpl-2',
          object: 'chat.completion',
          created: 1_736_000_000,
          model: 'gpt-4o-mini-2024-07-18',
          choices: [{ index: 0, message: { role: 'assistant', content: '{"summary":"ok"}' }, finish_reason: 'stop' }],
        });
      try {
        await analyzeCall(llm(), TASK);
        expect.fail('should have thrown');
      } catch (error) {
        expect(error).to.be.instanceOf(AnalysisParseError);
        expect((error as Error).message).to.match(/outcome must be an object/);
      }
    });
  });
});
