// A bench-only gateway for issue 9's isolation figure: Deepgram-path calls and LiveKit pipeline
// calls in one process, so the pipeline's effect on the media thread that relays other calls can
// be measured. Production picks one agent per gateway (AGENT_PROVIDER); nothing there routes
// calls by kind. This child is built like src/main.ts (loadConfig, createGateway, listen, drain on
// SIGTERM) with one difference: the agent factory sends a call whose stream carries the custom
// parameter `bench_agent=livekit` to the pipeline in the gateway's own agent worker pool, and
// every other call to the configured Deepgram agent. The pipeline's sessions thus run exactly as
// with AGENT_PROVIDER=livekit (in AGENT_WORKERS threads of the same process, their audio through
// the same ring), beside media the same event loop carries for the Deepgram calls.
//
// Environment: what the Deepgram gateway needs (AGENT_PROVIDER=deepgram and its key and URL), the
// pipeline's keys and base URLs, AGENT_WORKERS, PORT.
import type { AgentFactory } from '../../../src/agents/bridge.js';
import { offThread, selectAgent } from '../../../src/agents/index.js';
import { LIVEKIT_OFF_THREAD } from '../../../src/agents/worker/hosted-agents.js';
import { loadConfig, pipelineProblems } from '../../../src/config.js';
import { createGateway } from '../../../src/gateway.js';
import { flushLogs } from '../../../src/telemetry/logger.js';
import { BENCH_AGENT_PARAM } from './modes.js';

async function main(): Promise<void> {
  const config = loadConfig();
  if (config.agent.kind !== 'deepgram') throw new Error(`the mixed gateway needs AGENT_PROVIDER=deepgram, got ${config.agent.kind}`);
  const missing = pipelineProblems(config.pipeline);
  if (missing.length > 0) throw new Error(`the mixed gateway's pipeline is not configured: ${missing.map((p) => p.variable).join(', ')}`);
  if (config.agentWorkers < 1) throw new Error('the mixed gateway needs AGENT_WORKERS >= 1: the pipeline never runs on the media thread');

  const deepgram = selectAgent(config).factory;
  // Set once the gateway (and so its worker pool) exists; no call arrives before it listens.
  let pipeline: AgentFactory | undefined;
  const route: AgentFactory = (call, sink) => (call.parameters[BENCH_AGENT_PARAM] === 'livekit' ? pipeline! : deepgram)(call, sink);
  const gateway = await createGateway(config, { agentFactory: route });
  pipeline = (await offThread(gateway.agentPool, LIVEKIT_OFF_THREAD)).factory;
  await gateway.listen(config.port, config.host ?? '127.0.0.1');

  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await gateway.drain(config.drainTimeoutS * 1000);
    await gateway.close();
    await flushLogs(gateway.logger);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((err: Error) => {
  console.error(`mixed gateway: ${err.message}`);
  process.exit(1);
});
