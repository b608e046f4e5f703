// The LiveKit pipeline as a hosted agent: what an agent worker imports to build a LivekitAgent for
// a call from its cloned Config. Only workers import this module (see LIVEKIT_OFF_THREAD), so the
// media thread never loads the framework or its plugins.
import type { Config } from '../../config.js';
import type { HostedAgentFactory } from '../worker/protocol.js';
import { LivekitAgent, type LivekitAgentOptions } from './agent.js';
import type { PipelineOverrides } from './pipeline.js';

export const hostedLivekit: HostedAgentFactory = (call, sink, config) => new LivekitAgent(livekitAgentOptions(config), call, sink);

/** The bridge's options, from the configuration alone (tests may add overrides). */
export function livekitAgentOptions(config: Config, overrides?: PipelineOverrides): LivekitAgentOptions {
  // A transfer redirects the call through Twilio's REST API, so it is offered only with credentials.
  const canTransfer = Boolean(config.twilio.accountSid && config.twilio.authToken);
  return {
    config: { pipeline: config.pipeline, vad: config.vad },
    systemPrompt: config.systemPrompt,
    transferNumber: canTransfer ? config.twilio.transferNumber : undefined,
    logLevel: config.logLevel,
    ...(overrides && { overrides }),
  };
}
