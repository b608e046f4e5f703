// The Twilio request that dials a task. The stream parameters name the task; its prompt and
// greeting stay out of the TwiML (4000-character limit) and are looked up by task id when the
// stream starts.
import type { MachineDetection } from '../config.js';
import type { OutboundCall } from '../twilio/call-control.js';
import { connectStreamTwiml, mediaStreamUrl } from '../twilio/twiml.js';
import type { Task } from './model.js';

export interface DialSettings {
  /** The https origin Twilio reaches. */
  publicUrl: string;
  machineDetection: MachineDetection;
  ringTimeoutS: number;
}

/** `?taskId=` lets a callback that arrives before calls.create returns still find the task. */
export function statusCallbackUrl(publicUrl: string, taskId: string): string {
  const url = new URL('/twilio/status', publicUrl);
  url.searchParams.set('taskId', taskId);
  return url.toString();
}

export function outboundCall(task: Task, settings: DialSettings): OutboundCall {
  return {
    to: task.to,
    from: task.from,
    twiml: connectStreamTwiml(mediaStreamUrl(settings.publicUrl), {
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
