// Twilio numbers each call's progress callbacks (SequenceNumber from 0) but may deliver them out
// of order, and with several workers or instances one call's callbacks land on different ones. So
// the order is kept in the store, one sequence row per call, and these are its rules: pure
// functions over the row as the store's transaction locked it, shared by both engines so they
// cannot drift apart.
//
// One callback at a time is applied, by whoever holds the call's lease; it advances the sequence
// and hands the lease on to the next held callback. A callback that arrives early is held for at
// most `holdMs` (one Twilio never delivers must not stall the task); once the oldest hold expires,
// everything held goes out in sequence order, gaps and all. A lease whose holder died expires
// after `leaseMs`.

/** A call's sequence row. */
export interface CallbackSequence {
  /** The sequence number expected next. */
  nextSeq: number;
  /** The callback being applied, by whom, until when; possibly expired (its holder died). */
  lease: { holder: string; seq: number; untilMs: number } | undefined;
  /** Held callbacks up to this one go out whatever the gaps: a hold expired. */
  flushThrough: number | undefined;
}

/** What is held for a call, in brief. */
export interface HeldSummary {
  firstSeq: number;
  lastSeq: number;
  oldestHeldAtMs: number;
}

export type OfferDecision = 'apply' | 'hold' | 'stale';

export type NextDecision =
  | { take: number; flushThrough: number | undefined }
  | { waitMs: number }
  | 'none';

export function liveLease(sequence: CallbackSequence, nowMs: number): CallbackSequence['lease'] {
  return sequence.lease && sequence.lease.untilMs > nowMs ? sequence.lease : undefined;
}

/** Callback `seq` arrives. `alreadyHeld`: the store holds one with this number (a duplicate). */
export function decideOffer(sequence: CallbackSequence, seq: number, alreadyHeld: boolean, nowMs: number): OfferDecision {
  if (seq < sequence.nextSeq || alreadyHeld) return 'stale';
  const lease = liveLease(sequence, nowMs);
  // Older than, or the same as, the one being applied (a flush may apply past a gap).
  if (lease) return seq <= lease.seq ? 'stale' : 'hold';
  return seq === sequence.nextSeq ? 'apply' : 'hold';
}

/** With no live lease (or the caller's own, just finished): which held callback goes next, if any, and when to look again otherwise. */
export function decideNext(sequence: CallbackSequence, held: HeldSummary | undefined, nowMs: number, holdMs: number): NextDecision {
  if (!held) return 'none';
  const flushing = sequence.flushThrough !== undefined && held.firstSeq <= sequence.flushThrough;
  if (held.firstSeq === sequence.nextSeq || flushing) return { take: held.firstSeq, flushThrough: sequence.flushThrough };
  const dueAtMs = held.oldestHeldAtMs + holdMs;
  if (dueAtMs <= nowMs) return { take: held.firstSeq, flushThrough: held.lastSeq };
  return { waitMs: dueAtMs - nowMs };
}

// The sequence row as both engines store it (PostgreSQL returns bigint columns as strings).

export interface SequenceRow {
  next_seq: number;
  applying_seq: number | null;
  lease_holder: string | null;
  lease_until_ms: number | string | null;
  flush_through: number | null;
}

export interface HeldSummaryRow {
  first_seq: number | null;
  last_seq: number | null;
  oldest_held_at_ms: number | string | null;
}

export function sequenceFromRow(row: SequenceRow): CallbackSequence {
  const lease =
    row.applying_seq === null || row.lease_holder === null || row.lease_until_ms === null
      ? undefined
      : { holder: row.lease_holder, seq: row.applying_seq, untilMs: Number(row.lease_until_ms) };
  return { nextSeq: row.next_seq, lease, flushThrough: row.flush_through ?? undefined };
}

/** The sequence's columns, in SequenceRow's order after call_sid. */
export function sequenceColumns(sequence: CallbackSequence): [number, number | null, string | null, number | null, number | null] {
  const { lease } = sequence;
  return [sequence.nextSeq, lease?.seq ?? null, lease?.holder ?? null, lease?.untilMs ?? null, sequence.flushThrough ?? null];
}

export function heldFromRow(row: HeldSummaryRow | undefined): HeldSummary | undefined {
  if (!row || row.first_seq === null || row.last_seq === null || row.oldest_held_at_ms === null) return undefined;
  return { firstSeq: row.first_seq, lastSeq: row.last_seq, oldestHeldAtMs: Number(row.oldest_held_at_ms) };
}
