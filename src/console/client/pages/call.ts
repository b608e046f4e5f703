// One call, live and afterwards. Live: status, the transcript as it is spoken (an interrupted
// agent line shown cut where the caller stopped hearing it), turn latencies, keypad presses
// ("pressed", never the digit) and the end reason. Afterwards: the timeline and the analysis.
// A task's call (/api/tasks, /ws/call/{taskId}) and a call record (/api/calls) share the page.
import type { CallAnalysisState, CallEvent, CallLiveMessage, CallStatus, CallTranscriptLine, CallView } from '../../../calls/schemas.js';
import type { LiveMessage } from '../../../live/bus.js';
import { TERMINAL_STATUSES, type CallAnalysis } from '../../../tasks/model.js';
import type { TaskView } from '../../../tasks/view.js';
import { ApiError, call, get, messageOf, seg } from '../api.js';
import { clock, fill, h, when } from '../dom.js';
import { watchLive } from '../live.js';
import { mountTimeline } from '../timeline/view.js';
import { Disposer, type Page } from './page.js';

/** What the page shows, from a task or a call record. */
interface Shown {
  title: string;
  facts: Array<[string, string | Node]>;
  status: string;
  finished: boolean;
  transcript: CallTranscriptLine[];
  transcriptNote?: string;
  latencies: number[];
  dtmfPresses: number;
  endReason?: string;
  audioUrl?: string;
  events?: CallEvent[];
  /** A task's call records, oldest first. */
  callIds?: string[];
  /** A finished task whose call record is still being written: the timeline waits for it. */
  awaitingRecord?: boolean;
  analysis?: { state: 'pending' } | { state: 'ready'; analysis: CallAnalysis } | { state: 'failed'; error: string } | { state: 'none'; why: string };
}

const callFinished = (status: CallStatus): boolean => status === 'completed' || status === 'failed';

export const taskPage: Page = (root, [id]) => callPage(root, { kind: 'task', id: id! });
export const callRecordPage: Page = (root, [id]) => callPage(root, { kind: 'call', id: id! });

function callPage(root: HTMLElement, target: { kind: 'task' | 'call'; id: string }): () => void {
  const page = new Disposer();
  const api = `/api/${target.kind}s/${seg(target.id)}`;
  const head = h('header', { class: 'call-head' });
  const live = h('section', { class: 'panel live', 'aria-label': 'Live' });
  const analysis = h('section', { class: 'panel analysis', 'aria-label': 'Analysis' });
  const timeline = h('section', { class: 'panel timeline-panel', 'aria-label': 'Timeline' });
  fill(root, head, timeline, h('div', { class: 'columns' }, live, analysis));
  let shown: Shown | undefined;
  let timelineFor: string | undefined;
  let analysisAsked = false;
  /** A task's page: the call record placed for it, whose events (keypad, turns, barge-ins) it shows too. */
  let linkedCall: string | undefined;
  let reloads = 0;

  const render = (): void => {
    if (!shown) return;
    renderHead(head, shown);
    renderLive(live, shown);
    renderAnalysis(analysis, shown);
    // The picture is drawn once the call is over and its WAV is kept.
    if (shown.finished && shown.audioUrl && shown.awaitingRecord) fill(timeline, h('p', { class: 'muted' }, 'Waiting for the call record to be complete…'));
    else if (shown.finished && shown.audioUrl && timelineFor !== shown.audioUrl) {
      timelineFor = shown.audioUrl;
      mountTimeline(timeline, {
        audioUrl: shown.audioUrl,
        transcript: shown.transcript,
        ...(shown.transcriptNote !== undefined && { transcriptNote: shown.transcriptNote }),
        ...(shown.events && { events: shown.events }),
      }).then(
        (unmount) => page.add(unmount),
        (err: unknown) => fill(timeline, h('p', { class: 'form-error' }, `The timeline could not be drawn: ${messageOf(err)}`)),
      );
    } else if (!shown.finished) fill(timeline, h('p', { class: 'muted' }, 'The timeline is drawn once the call has ended.'));
    else if (!shown.audioUrl) fill(timeline, h('p', { class: 'muted' }, 'No recording was kept for this call.'));
    if (shown.finished && !analysisAsked && shown.analysis === undefined) {
      analysisAsked = true;
      void askAnalysis();
    }
  };

  const askAnalysis = async (): Promise<void> => {
    try {
      const reply = await call<CallAnalysisState>('GET', `${api}/analysis`);
      if (shown) shown.analysis = reply.body;
    } catch (err) {
      if (shown) shown.analysis = err instanceof ApiError && err.status === 502 ? { state: 'failed', error: err.body.message } : { state: 'none', why: messageOf(err) };
    }
    render();
  };

  /** Re-reads the record (after the stream ends: its end reason, recording and times); a failure is shown, the socket goes on. */
  const reload = (): Promise<void> => load().catch((err: unknown) => void head.append(h('p', { class: 'form-error' }, messageOf(err))));
  const load = async (): Promise<void> => {
    // Reloads may overlap (a status change and the record's end); only the latest one is shown.
    const mine = ++reloads;
    const latencies = shown?.latencies ?? [];
    const dtmf = shown?.dtmfPresses ?? 0;
    const events = shown?.events;
    const next = target.kind === 'task' ? fromTask(await get<TaskView>(api)) : fromCall(await get<CallView>(api));
    if (target.kind === 'task') {
      const callId = next.callIds?.at(-1);
      if (callId !== undefined) linkCall(callId);
      // The call's own events, complete once its record has ended too: the timeline's turns and
      // barge-ins. Until then the picture waits (the linked watcher reloads at the record's end).
      if (callId !== undefined && next.finished) {
        const record = await get<CallView>(`/api/calls/${seg(callId)}`);
        next.events = record.events;
        if (!callFinished(record.status)) next.awaitingRecord = true;
      } else if (events) next.events = events;
    }
    if (next.latencies.length === 0) next.latencies = latencies;
    next.dtmfPresses = Math.max(dtmf, next.dtmfPresses, next.events?.filter((e) => e.type === 'dtmf').length ?? 0);
    if (mine !== reloads) return;
    shown = next;
    render();
  };

  /** Follows the events of a task's call on its own socket (a task's socket carries no keypad presses). */
  const linkCall = (callId: string): void => {
    if (linkedCall !== undefined) return;
    linkedCall = callId;
    page.add(
      watchLive<CallLiveMessage>(`/ws/call/${seg(callId)}`, (message) => {
        if (!shown) return;
        // The record is complete: read it again (its events, for the timeline).
        if (message.type === 'call_ended') return void reload();
        if (message.type === 'call_snapshot') shown.events = [...message.call.events];
        else if (message.type === 'call_event') shown.events = [...(shown.events ?? []), message.event];
        else return;
        shown.dtmfPresses = shown.events.filter((e) => e.type === 'dtmf').length;
        render();
      }),
    );
  };

  const onMessage = (message: LiveMessage | CallLiveMessage): void => {
    if (message.type === 'snapshot') {
      const latencies = shown?.latencies ?? [];
      shown = fromTask(message.task);
      shown.latencies = latencies;
      // Once dialed or streaming, the task has a call record to follow as well.
      if (message.task.status !== 'created') void reload();
      return render();
    }
    if (message.type === 'call_snapshot') {
      const latencies = shown?.latencies ?? [];
      shown = fromCall(message.call);
      if (shown.latencies.length === 0) shown.latencies = latencies;
      return render();
    }
    if (!shown) return;
    switch (message.type) {
      case 'status':
        shown.status = message.status;
        shown.finished = TERMINAL_STATUSES.has(message.status);
        // The first move past `created` is when the task's call record may appear.
        if (shown.finished || linkedCall === undefined) void reload();
        break;
      case 'call_status':
        shown.status = message.status;
        shown.finished = callFinished(message.status);
        if (shown.finished) void reload();
        break;
      case 'transcript':
        shown.transcript.push(message.line);
        break;
      case 'latency':
        if (message.metric === 'turn_latency') shown.latencies.push(message.ms);
        break;
      case 'call_event':
        shown.events = [...(shown.events ?? []), message.event];
        if (message.event.type === 'dtmf') shown.dtmfPresses++;
        break;
      case 'call_ended':
        shown.endReason = message.reason;
        void reload();
        break;
      case 'analysis':
        shown.analysis = message.state === 'ready' ? { state: 'ready', analysis: message.analysis } : { state: 'failed', error: message.error };
        break;
    }
    render();
  };

  fill(head, h('h1', {}, target.id), h('p', { class: 'muted' }, 'Loading…'));
  // The first fetch asks for the key if the API wants one; the socket then carries it.
  get<unknown>(api).then(
    () => page.add(watchLive<LiveMessage | CallLiveMessage>(`/ws/call/${seg(target.id)}`, onMessage, (open) => live.classList.toggle('connected', open))),
    (err: unknown) => fill(head, h('h1', {}, target.id), h('p', { class: 'form-error' }, messageOf(err))),
  );
  return page.dispose;
}

function fromTask(task: TaskView): Shown {
  return {
    title: `Task ${task.id}`,
    facts: [
      ['To', task.to],
      ['From', task.from],
      ['Created', when(task.createdAt)],
      ['Answered', when(task.answeredAt)],
      ['Ended', when(task.endedAt)],
      ['Duration', task.durationS === undefined ? '—' : `${task.durationS} s`],
      ['CallSid', task.callSid ?? '—'],
      ['Call record', task.callIds?.length ? h('a', { href: `#/calls/${seg(task.callIds[task.callIds.length - 1]!)}` }, task.callIds[task.callIds.length - 1]!) : '—'],
    ],
    status: task.status,
    finished: TERMINAL_STATUSES.has(task.status),
    transcript: [...task.transcript],
    ...(task.callIds !== undefined && { callIds: task.callIds }),
    latencies: [],
    dtmfPresses: 0,
    ...(task.endReason !== undefined && { endReason: task.endReason }),
    ...(task.audioUrl !== undefined && { audioUrl: task.audioUrl }),
    ...(task.analysis !== undefined && task.analysis.state !== 'pending' && { analysis: task.analysis }),
  };
}

function fromCall(record: CallView): Shown {
  return {
    title: `${record.direction} call ${record.id}`,
    facts: [
      ['Direction', record.direction],
      ['Agent', record.agent],
      ['From', record.from ?? '—'],
      ['To', record.to ?? '—'],
      ['Started', when(record.startedAt ?? record.createdAt)],
      ['Ended', when(record.endedAt)],
      ['Length', record.durationMs === undefined ? '—' : clock(record.durationMs)],
      ['Task', record.taskId ? h('a', { href: `#/tasks/${seg(record.taskId)}` }, record.taskId) : '—'],
    ],
    status: record.status,
    finished: callFinished(record.status),
    transcript: [...record.transcript],
    ...(record.transcriptNote !== undefined && { transcriptNote: record.transcriptNote }),
    latencies: record.events.flatMap((e) => (e.type === 'turn' ? [e.latencyMs] : [])),
    dtmfPresses: record.events.filter((e) => e.type === 'dtmf').length,
    events: record.events,
    ...(record.endReason !== undefined && { endReason: record.endReason }),
    ...(record.audioUrl !== undefined && { audioUrl: record.audioUrl }),
  };
}

function renderHead(head: HTMLElement, shown: Shown): void {
  fill(
    head,
    h('h1', {}, shown.title, ' ', h('span', { class: `status status-${shown.status}`, 'data-status': shown.status }, shown.status)),
    h('dl', { class: 'facts' }, ...shown.facts.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]), h('dt', {}, 'End reason'), h('dd', { 'data-end-reason': shown.endReason ?? '' }, shown.endReason ?? '—')),
  );
}

function renderLive(section: HTMLElement, shown: Shown): void {
  const lines = shown.transcript.map((line) =>
    h(
      'li',
      { class: `said said-${line.role}${line.interrupted ? ' interrupted' : ''}`, 'data-at-ms': line.atMs },
      h('time', {}, clock(line.atMs)),
      h('span', { class: 'who' }, line.role === 'user' ? 'Caller' : line.role === 'assistant' ? 'Agent' : 'System'),
      h('span', { class: 'text' }, line.text),
      line.interrupted ? h('span', { class: 'cut', title: 'The caller talked over the agent: the line ends where they stopped hearing it' }, '✂ cut off here') : null,
    ),
  );
  const latencies = shown.latencies.map((ms, index) => h('li', {}, `Turn ${index + 1}: `, h('strong', {}, `${Math.round(ms)} ms`)));
  fill(
    section,
    h('h2', {}, shown.finished ? 'Transcript' : 'Live'),
    lines.length ? h('ol', { class: 'transcript' }, ...lines) : h('p', { class: 'muted' }, shown.transcriptNote ?? (shown.finished ? 'Nobody spoke.' : 'Waiting for the first words…')),
    h('h3', {}, 'Turn latency'),
    latencies.length ? h('ul', { class: 'latencies' }, ...latencies) : h('p', { class: 'muted' }, 'No turn measured yet.'),
    h('p', { class: 'dtmf', 'data-dtmf-presses': shown.dtmfPresses }, shown.dtmfPresses === 0 ? 'No keypad presses.' : `Keypad: pressed ${shown.dtmfPresses} time${shown.dtmfPresses === 1 ? '' : 's'} (digits are never shown).`),
  );
}

function renderAnalysis(section: HTMLElement, shown: Shown): void {
  const state = shown.analysis;
  const heading = h('h2', {}, 'Analysis');
  if (!shown.finished) return fill(section, heading, h('p', { class: 'muted' }, 'Made once the call has ended.'));
  if (!state || state.state === 'pending') return fill(section, heading, h('p', { class: 'muted' }, 'Being made…'));
  if (state.state === 'failed') return fill(section, heading, h('p', { class: 'form-error' }, `The analysis failed: ${state.error}`));
  if (state.state === 'none') return fill(section, heading, h('p', { class: 'muted' }, state.why));
  const { analysis } = state;
  const goal = analysis.outcome.goal_reached === null ? 'not applicable' : analysis.outcome.goal_reached ? 'reached' : 'not reached';
  fill(
    section,
    heading,
    h('p', { class: 'summary-text' }, analysis.summary),
    h('dl', { class: 'facts' }, h('dt', {}, 'Goal'), h('dd', {}, `${goal}: ${analysis.outcome.explanation}`), h('dt', {}, 'Sentiment'), h('dd', { class: `sentiment sentiment-${analysis.sentiment}` }, analysis.sentiment)),
    h('h3', {}, 'Action items'),
    analysis.action_items.length ? h('ul', {}, ...analysis.action_items.map((item) => h('li', {}, item))) : h('p', { class: 'muted' }, 'None.'),
    h('h3', {}, 'Key facts'),
    Object.keys(analysis.key_facts).length
      ? h('dl', { class: 'facts' }, ...Object.entries(analysis.key_facts).flatMap(([key, value]) => [h('dt', {}, key), h('dd', {}, value)]))
      : h('p', { class: 'muted' }, 'None.'),
  );
}
