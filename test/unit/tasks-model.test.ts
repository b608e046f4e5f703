import { expect } from 'chai';
import {
  canTransition,
  MAX_METADATA_BYTES,
  TASK_STATUSES,
  TERMINAL_STATUSES,
  validateNewTask,
} from '../../src/tasks/model.js';
import type { TaskStatus } from '../../src/tasks/model.js';

describe('task state machine', () => {
  // The whole table of allowed moves, written out independently of the implementation.
  const allowed: Record<TaskStatus, TaskStatus[]> = {
    created: ['queued', 'ringing', 'in-progress', 'failed', 'canceled'],
    queued: ['ringing', 'in-progress', 'busy', 'no-answer', 'failed', 'canceled'],
    ringing: ['in-progress', 'completed', 'busy', 'no-answer', 'failed', 'canceled'],
    'in-progress': ['completed', 'failed'],
    completed: [],
    busy: [],
    'no-answer': [],
    failed: [],
    canceled: [],
  };

  for (const from of TASK_STATUSES) {
    for (const to of TASK_STATUSES) {
      const expected = allowed[from].includes(to);
      it(`${expected ? 'allows' : 'refuses'} ${from} → ${to}`, () => {
        expect(canTransition(from, to)).to.equal(expected);
      });
    }
  }

  it('names exactly the five terminal statuses, which allow no move at all', () => {
    expect([...TERMINAL_STATUSES].sort()).to.deep.equal(['busy', 'canceled', 'completed', 'failed', 'no-answer']);
    for (const from of TERMINAL_STATUSES) {
      expect(TASK_STATUSES.filter((to) => canTransition(from, to))).to.deep.equal([]);
    }
  });

  it('refuses the moves that would misreport a call', () => {
    expect(canTransition('queued', 'completed'), 'completed without connecting').to.equal(false);
    expect(canTransition('created', 'busy'), 'busy without dialing').to.equal(false);
    expect(canTransition('in-progress', 'no-answer'), 'no-answer after answering').to.equal(false);
    expect(canTransition('in-progress', 'canceled'), 'canceled after answering').to.equal(false);
    expect(canTransition('ringing', 'queued'), 'backwards').to.equal(false);
    expect(canTransition('ringing', 'ringing'), 'same status').to.equal(false);
  });
});

describe('validateNewTask', () => {
  it('accepts a minimal task and a full one', () => {
    expect(validateNewTask({ to: '+14155550123' })).to.deep.equal({ ok: true, value: { to: '+14155550123' } });
    const full = {
      to: '+14155550123',
      from: '+442071838750',
      prompt: 'Confirm the appointment on Friday.',
      greeting: 'Hi, this is Ada from the clinic.',
      metadata: { patientId: 42, tags: ['vip'], nested: { ok: true, none: null } },
    };
    expect(validateNewTask(full)).to.deep.equal({ ok: true, value: full });
  });

  it('treats null optional fields as omitted', () => {
    const result = validateNewTask({ to: '+14155550123', from: null, prompt: null, greeting: null, metadata: null });
    expect(result).to.deep.equal({ ok: true, value: { to: '+14155550123' } });
  });

  it('names every bad field at once', () => {
    const result = validateNewTask({
      to: '4155550123',
      from: '+0123456789',
      prompt: 'x'.repeat(8001),
      greeting: 'y'.repeat(1001),
      metadata: ['not', 'an', 'object'],
      greting: 'typo',
    });
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.field).sort()).to.deep.equal(
      ['from', 'greeting', 'greting', 'metadata', 'prompt', 'to'].sort(),
    );
    const byField = Object.fromEntries(result.errors.map((e) => [e.field, e.message]));
    expect(byField.to).to.match(/E\.164/);
    expect(byField.prompt).to.match(/at most 8000 characters \(got 8001\)/);
    expect(byField.greeting).to.match(/at most 1000 characters/);
    expect(byField.greting).to.equal('is not a known field');
  });

  it('refuses a prompt or greeting holding a NUL character (PostgreSQL cannot store one), naming the field', () => {
    const result = validateNewTask({ to: '+14155550123', prompt: 'Confirm\u0000 Friday.', greeting: 'Hi\u0000' });
    expect(result.ok).to.equal(false);
    if (result.ok) return;
    const byField = Object.fromEntries(result.errors.map((e) => [e.field, e.message]));
    expect(Object.keys(byField).sort()).to.deep.equal(['greeting', 'prompt']);
    expect(byField.prompt).to.match(/NUL character/);
  });

  it('requires `to` and refuses a body that is not an object', () => {
    expect(validateNewTask({})).to.deep.equal({ ok: false, errors: [{ field: 'to', message: 'is required' }] });
    for (const body of [null, 'x', 42, ['+14155550123']]) {
      expect(validateNewTask(body)).to.deep.equal({
        ok: false,
        errors: [{ field: 'body', message: 'must be a JSON object' }],
      });
    }
  });

  it('checks E.164 strictly', () => {
    const good = ['+1234567', '+123456789012345', '+14155550123'];
    const bad = ['+123456', '+1234567890123456', '+0155550123', '14155550123', '+1 415 555 0123', 12345678];
    for (const to of good) expect(validateNewTask({ to }).ok, String(to)).to.equal(true);
    for (const to of bad) expect(validateNewTask({ to }).ok, String(to)).to.equal(false);
  });

  it('counts characters, not UTF-16 units, and refuses blank text', () => {
    expect(validateNewTask({ to: '+14155550123', greeting: '😀'.repeat(1000) }).ok).to.equal(true);
    const blank = validateNewTask({ to: '+14155550123', prompt: '   ' });
    expect(blank).to.deep.equal({
      ok: false,
      errors: [{ field: 'prompt', message: 'must not be empty (omit it to use the default)' }],
    });
    expect(validateNewTask({ to: '+14155550123', prompt: 7 })).to.deep.include({ ok: false });
  });

  it('limits metadata to 16 KiB of JSON and to JSON values', () => {
    const padding = MAX_METADATA_BYTES - JSON.stringify({ a: '' }).length;
    expect(validateNewTask({ to: '+14155550123', metadata: { a: 'x'.repeat(padding) } }).ok).to.equal(true);
    const tooBig = validateNewTask({ to: '+14155550123', metadata: { a: 'x'.repeat(padding + 1) } });
    expect(tooBig.ok).to.equal(false);
    if (!tooBig.ok) expect(tooBig.errors[0]?.message).to.match(/at most 16384 bytes as JSON \(got 16385\)/);

    const notJson = [{ n: Number.NaN }, { d: new Date() }, { u: undefined }, { f: () => 1 }];
    for (const metadata of notJson) {
      const result = validateNewTask({ to: '+14155550123', metadata });
      expect(result.ok, JSON.stringify(metadata)).to.equal(false);
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(validateNewTask({ to: '+14155550123', metadata: cyclic }).ok).to.equal(false);
  });
});
