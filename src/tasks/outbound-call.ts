// The Twilio request that dials a task. The stream parameters name the task; its prompt and
// greeting stay out of the TwiML (4000-character limit) and are looked up by task id when the
// stream starts.
import { randomBytes } from 'node:crypto';
import type { MachineDetection } from '../config.js';
import type { OutboundCall } from '../twilio/call-control.js';
import { outboundTokenTtlMs, type StreamTokens } from '../twilio/stream-token.js';
import { connectStreamTwiml, mediaStreamUrl } from '../twilio/twiml.js';
import type { Task } from './model.js';

export interface DialSettings {
  /** The https origin Twilio reaches. */
  publicUrl: string;
  machineDetection: MachineDetection;
  ringTimeoutS: number;
  /** Mints the call's stream token when signature checks are on; undefined otherwise. */
  streamTokens: StreamTokens | undefined;
}

/** `?taskId=` lets a callback that arrives before calls.create returns still find the task. */
export function statusCallbackUrl(publicUrl: string, taskId: string): string {
  const url = new URL('/twilio/status', publicUrl);
  url.searchParams.set('taskId', taskId);
  return url.toString();
}

/**
 * The call's CallSid is unknown until Twilio answers our request, so its stream token is bound to
 * the task; a random attempt nonce makes each dial's token distinct. At `start` the token admits
 * only its task, the task's own admission only the CallSid this dial recorded, and the claim only
 * one stream.
 */
export function outboundCall(task: Task, settings: DialSettings): OutboundCall {
  const attempt = randomBytes(9).toString('base64url');
  const token = settings.streamTokens?.issue({ kind: 'outbound', taskId: task.id, attempt }, outboundTokenTtlMs(settings.ringTimeoutS));
  return {
    to: task.to,
    from: task.from,
    twiml: connectStreamTwiml(mediaStreamUrl(settings.publicUrl, token), {
      taskId: task.id,
      to: task.to,
      from: task.from,
      direction: 'outbound-api',
    }),
    statusCallbackUrl: statusCallbackUrl(settings.publicUrl, task.id),
    machineDetection: settings.machineDetection,
    ringTimeoutS: settings.ringTimeoutS,
  };
}
