// The call hooks that turn each finished phone call into a record: the parties are known at the
// stream's start, the rest from its summary at the end.
import type { CallContext } from '../agents/bridge.js';
import type { CallHooks, CallSummary } from '../call/call-types.js';
import { partiesOf, type CallParties } from './records.js';

/** Remembers each live call's parties from its start, and hands them over with its summary at the end. */
export class CallRecordHooks implements CallHooks {
  private readonly parties = new Map<string, CallParties>();

  constructor(private readonly finished: (summary: CallSummary, parties: CallParties | undefined) => void) {}

  started(call: CallContext): void {
    this.parties.set(call.streamSid, partiesOf(call));
  }

  ended(summary: CallSummary): void {
    const parties = summary.streamSid === undefined ? undefined : this.parties.get(summary.streamSid);
    if (summary.streamSid !== undefined) this.parties.delete(summary.streamSid);
    this.finished(summary, parties);
  }
}
