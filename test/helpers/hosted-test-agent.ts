// A bridge for the agent worker pool's tests, built inside a worker thread. It is the echo agent
// (so the caller hears their words back and can barge in), plus what a real agent reports: a
// transcript line and a latency figure per reply, a hang-up on DTMF 9, and on DTMF 8 a barge-in it
// says it decided BARGE_IN_DECIDED_AGO_MS earlier (so a test can see whose clock the call uses). The call's `behavior`
// parameter makes it fail on purpose: `throw` throws from pushCallerAudio, `throw-later` from a
// timer it set going at start, `exit` kills its worker. `close-line` writes a transcript line as
// it closes, as the LiveKit session writes the reply just heard when the caller hangs up.
import type { AgentBridge, AgentSink, CallContext } from '../../src/agents/bridge.js';
import { EchoAgent } from '../../src/agents/echo.js';
import type { HostedAgentFactory, HostedAgentKind } from '../../src/agents/worker/protocol.js';
import type { Config } from '../../src/config.js';
import { epochMs } from '../../src/util/clock.js';

/** How long before DTMF 8 reaches it the bridge claims to have decided its barge-in. */
export const BARGE_IN_DECIDED_AGO_MS = 300;

/** Frames a failing bridge takes before it fails: the call is well under way by then. */
export const FAIL_AFTER_FRAMES = 25;

class HostedTestAgent implements AgentBridge {
  readonly kind = 'hosted-test';
  private readonly echo: EchoAgent;
  private readonly behavior: string | undefined;
  private frames = 0;
  private replies = 0;

  constructor(call: CallContext, private readonly sink: AgentSink, config: Config) {
    this.behavior = call.parameters.behavior;
    this.echo = new EchoAgent(config.vad, {
      ...sink,
      utteranceDone: () => {
        sink.utteranceDone();
        this.replies++;
        sink.transcript({ role: 'assistant', text: `echo ${this.replies}` });
        sink.latency('hosted_echo', this.replies, { reply: this.replies });
      },
    });
  }

  async start(): Promise<void> {
    if (this.behavior === 'throw-later') {
      setTimeout(() => {
        throw new Error('the test bridge threw from a timer');
      }, 300);
    }
  }

  pushCallerAudio(frame: Buffer, atMs: number): void {
    if (++this.frames === FAIL_AFTER_FRAMES) {
      if (this.behavior === 'throw') throw new Error('the test bridge threw');
      if (this.behavior === 'exit') process.exit(3);
    }
    this.echo.pushCallerAudio(frame);
    void atMs;
  }

  pushDtmf(digit: string): void {
    if (digit === '8') this.sink.bargeIn(epochMs() - BARGE_IN_DECIDED_AGO_MS);
    if (digit === '9') this.sink.action({ type: 'hangup', reason: 'the caller pressed 9' });
  }

  utterancePlayed(): void {}

  async close(): Promise<void> {
    if (this.behavior !== 'close-line') return;
    await new Promise((resolve) => setTimeout(resolve, 50)); // written while closing, not at once
    this.sink.transcript({ role: 'assistant', text: 'the reply heard before the hang-up' });
  }
}

export const hostedTestAgent: HostedAgentFactory = (call, sink, config) => new HostedTestAgent(call, sink, config);

export const HOSTED_TEST_AGENT: HostedAgentKind = { name: 'hosted-test', module: import.meta.url, export: 'hostedTestAgent' };
