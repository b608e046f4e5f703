// The call's tools as the LiveKit pipeline's Agent gets them: the same declarations the Deepgram
// agent sends in Settings, and each call the model makes run through the framework's own tool
// execution (llm.executeToolCall), its arguments checked as the Deepgram agent checks them.
import { llm } from '@livekit/agents';
import { expect } from 'chai';
import { AGENT_FUNCTIONS, parseFunctionCall } from '../../src/agents/deepgram/tools.js';
import { livekitTools } from '../../src/agents/livekit/tools.js';
import type { ToolCall } from '../../src/agents/tools.js';

/** The tools of a call that can transfer, with every call the bridge receives. */
function toolsOfCall(transferAvailable = true) {
  const calls: ToolCall[] = [];
  const tools = livekitTools({ transferAvailable }, (call) => {
    calls.push(call);
    return { ok: true };
  });
  return { tools, calls };
}

/** Runs one function call the model made, as the pipeline does; its output as sent back to the model. */
async function modelCalls(tools: llm.ToolContext, name: string, args: string) {
  const output = await llm.executeToolCall(llm.FunctionCall.create({ callId: 'call_1', name, args }), tools);
  return { output: output.output, isError: output.isError };
}

describe('LiveKit pipeline tools', () => {
  it('declares the same functions, descriptions and JSON schemas as the Deepgram agent', () => {
    const { tools } = toolsOfCall();
    expect(Object.keys(tools.functionTools)).to.deep.equal(AGENT_FUNCTIONS.map((f) => f.name));
    for (const fn of AGENT_FUNCTIONS) {
      const tool = tools.getFunctionTool(fn.name);
      expect(tool?.description, fn.name).to.equal(fn.description);
      expect(tool?.parameters, fn.name).to.deep.equal(fn.parameters);
    }
  });

  it('offers transfer_call only when the call can be transferred', () => {
    expect(Object.keys(toolsOfCall(false).tools.functionTools)).to.deep.equal(['end_call']);
  });

  // Arguments as a model sends them, decoded by the framework, then checked as for Deepgram.
  const cases: { name: string; args: string }[] = [
    { name: 'end_call', args: '{"reason":"caller is done"}' },
    { name: 'end_call', args: '{}' },
    { name: 'end_call', args: '{"reason":null}' },
    { name: 'end_call', args: '{"reason":"bye","extra":1}' },
    { name: 'end_call', args: '{"reason":5}' },
    { name: 'end_call', args: '{"reason":["a"]}' },
    { name: 'transfer_call', args: '{"reason":"wants a human"}' },
    { name: 'transfer_call', args: '{"reason":false}' },
  ];
  for (const { name, args } of cases) {
    it(`checks ${name}(${args}) as the Deepgram agent does`, async () => {
      const { tools, calls } = toolsOfCall();
      const expected = parseFunctionCall(name, args);

      const { output, isError } = await modelCalls(tools, name, args);

      expect(isError).to.equal(false);
      if ('error' in expected) {
        expect(calls).to.deep.equal([], 'the bridge never sees a call it cannot use');
        expect(JSON.parse(output)).to.deep.equal(expected, 'the model is told why, as Deepgram is');
      } else {
        expect(calls).to.deep.equal([expected]);
        expect(JSON.parse(output)).to.deep.equal({ ok: true }, "the bridge's answer goes back to the model");
      }
    });
  }

  it('answers a call of a tool this call was not offered without reaching the bridge', async () => {
    const { tools, calls } = toolsOfCall(false);
    const { output, isError } = await modelCalls(tools, 'transfer_call', '{}');
    expect(isError).to.equal(true);
    expect(output).to.match(/Unknown function: transfer_call/);
    expect(calls).to.deep.equal([]);
  });
});
