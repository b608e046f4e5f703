// Calls: create a task, the task list (status filter, paging, newest first, statuses kept live by
// each unfinished task's watcher), place and stop a task's call, and the calls no task placed
// (inbound and browser calls, from /api/calls, read again every few seconds while the tab is visible).
import type { CallPage, CallSummaryView } from '../../../calls/schemas.js';
import type { LiveMessage } from '../../../live/bus.js';
import { TASK_STATUSES, TERMINAL_STATUSES, type TaskStatus } from '../../../tasks/model.js';
import type { TaskSummaryView, TaskView } from '../../../tasks/view.js';
import { ApiError, get, messageOf, post, seg } from '../api.js';
import { clock, fill, h, when } from '../dom.js';
import { watchLive } from '../live.js';
import { Disposer, type Page } from './page.js';

const PAGE_SIZE = 20;

interface TaskList {
  tasks: TaskSummaryView[];
  nextCursor?: string;
}

export const callsPage: Page = (root) => {
  const page = new Disposer();
  const list = h('section', { class: 'panel', 'aria-label': 'Tasks' });
  const others = h('section', { class: 'panel', 'aria-label': 'Calls without a task' });
  fill(root, h('div', { class: 'columns' }, createForm(() => void tasks.reload()), h('div', { class: 'wide' }, list, others)));
  const tasks = taskList(list, page);
  void tasks.reload();
  callsWithoutTask(others, page);
  return page.dispose;
};

// ---------------------------------------------------------------------------------------------
// The create form: the API validates; its 400 `details` are shown beside their fields.

const FIELDS = [
  { name: 'to', label: 'To', placeholder: '+14155550123', kind: 'input' },
  { name: 'from', label: 'From', placeholder: 'default caller id', kind: 'input' },
  { name: 'prompt', label: 'Prompt', placeholder: 'What the agent should try to do', kind: 'textarea' },
  { name: 'greeting', label: 'Greeting', placeholder: 'What the agent says first', kind: 'textarea' },
  { name: 'metadata', label: 'Metadata (JSON object)', placeholder: '{"customer": "42"}', kind: 'textarea' },
] as const;

type FieldName = (typeof FIELDS)[number]['name'];

function createForm(onCreated: () => void): HTMLElement {
  const errors = new Map<string, HTMLElement>();
  const inputs = new Map<FieldName, HTMLInputElement | HTMLTextAreaElement>();
  const general = h('p', { class: 'form-error', role: 'alert' });
  const done = h('p', { class: 'form-done', role: 'status' });
  const rows = FIELDS.map((field) => {
    const id = `task-${field.name}`;
    const input = field.kind === 'input' ? h('input', { id, name: field.name, placeholder: field.placeholder }) : h('textarea', { id, name: field.name, placeholder: field.placeholder, rows: 2 });
    inputs.set(field.name, input);
    const error = h('span', { class: 'field-error', 'data-error-for': field.name, id: `${id}-error` });
    errors.set(field.name, error);
    input.setAttribute('aria-describedby', error.id);
    return h('div', { class: 'field' }, h('label', { for: id }, field.label), input, error);
  });
  const showErrors = (details: { field: string; message: string }[]): void => {
    for (const { field, message } of details) {
      const beside = errors.get(field);
      if (beside) {
        beside.textContent = message;
        inputs.get(field as FieldName)?.setAttribute('aria-invalid', 'true');
      } else general.append(`${field} ${message}. `);
    }
  };
  const clearErrors = (): void => {
    for (const error of errors.values()) error.textContent = '';
    for (const input of inputs.values()) input.removeAttribute('aria-invalid');
    general.textContent = '';
    done.textContent = '';
  };
  const form = h('form', { class: 'panel create', novalidate: true }, h('h2', {}, 'New task'), ...rows, general, h('button', { type: 'submit', class: 'primary' }, 'Create task'), done);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearErrors();
    const body: Record<string, unknown> = {};
    for (const [name, input] of inputs) {
      const value = input.value.trim();
      if (value === '') continue;
      if (name !== 'metadata') body[name] = value;
      else {
        try {
          body.metadata = JSON.parse(value);
        } catch {
          return showErrors([{ field: 'metadata', message: 'is not valid JSON' }]);
        }
      }
    }
    post<TaskView>('/api/tasks', body).then(
      (task) => {
        form.reset();
        done.append('Created ', h('a', { href: `#/tasks/${seg(task.id)}` }, task.id), '.');
        onCreated();
      },
      (err: unknown) => {
        if (err instanceof ApiError && err.body.details) showErrors(err.body.details);
        else general.textContent = messageOf(err);
      },
    );
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// The task list

function taskList(section: HTMLElement, page: Disposer) {
  const filter = h('select', { name: 'status', 'aria-label': 'Status' }, h('option', { value: '' }, 'every status'), ...TASK_STATUSES.map((status) => h('option', { value: status }, status)));
  const body = h('tbody');
  const error = h('p', { class: 'form-error', role: 'alert' });
  const newer = h('button', { type: 'button', disabled: true }, '← Newer');
  const older = h('button', { type: 'button', disabled: true }, 'Older →');
  /** Cursors of the pages before this one; the first page has none. */
  const cursors: Array<string | undefined> = [undefined];
  let watching = new Disposer();
  page.add(() => watching.dispose());

  const reload = async (): Promise<void> => {
    const cursor = cursors[cursors.length - 1];
    const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (filter.value) query.set('status', filter.value);
    if (cursor) query.set('cursor', cursor);
    try {
      const result = await get<TaskList>(`/api/tasks?${query}`);
      error.textContent = '';
      watching.dispose();
      watching = new Disposer();
      fill(body, ...(result.tasks.length ? result.tasks.map((task) => taskRow(task, watching, reload)) : [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No tasks yet.'))]));
      newer.disabled = cursors.length === 1;
      older.disabled = result.nextCursor === undefined;
      older.onclick = () => {
        cursors.push(result.nextCursor);
        void reload();
      };
    } catch (err) {
      error.textContent = messageOf(err);
    }
  };
  newer.onclick = () => {
    cursors.pop();
    void reload();
  };
  filter.onchange = () => {
    cursors.splice(1);
    void reload();
  };
  fill(
    section,
    h('div', { class: 'panel-head' }, h('h2', {}, 'Tasks'), h('label', { class: 'inline' }, 'Status ', filter)),
    error,
    h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ...['Task', 'To', 'Status', 'Created', 'Ended', ''].map((title) => h('th', {}, title)))), body),
    h('div', { class: 'pager' }, newer, older),
  );
  return { reload };
}

function taskRow(task: TaskSummaryView, watching: Disposer, reload: () => Promise<void>): HTMLTableRowElement {
  const status = h('span', { class: `status status-${task.status}`, 'data-status': task.status }, task.status);
  const ended = h('td', {}, task.endReason ? `${when(task.endedAt)} (${task.endReason})` : when(task.endedAt));
  const feedback = h('span', { class: 'row-error', role: 'alert' });
  const act = (path: string) => () => {
    feedback.textContent = '';
    post<TaskView>(`/api/tasks/${seg(task.id)}/${path}`).then(
      (updated) => setStatus(updated.status),
      (err: unknown) => (feedback.textContent = messageOf(err)),
    );
  };
  const callButton = h('button', { type: 'button', onclick: act('call') }, 'Place call');
  const stopButton = h('button', { type: 'button', onclick: act('stop') }, 'Stop');
  const setStatus = (next: TaskStatus): void => {
    status.textContent = next;
    status.className = `status status-${next}`;
    status.dataset.status = next;
    callButton.disabled = next !== 'created';
    stopButton.disabled = TERMINAL_STATUSES.has(next);
  };
  setStatus(task.status);
  if (!TERMINAL_STATUSES.has(task.status)) {
    watching.add(
      watchLive<LiveMessage>(`/ws/call/${seg(task.id)}`, (message) => {
        if (message.type === 'snapshot') setStatus(message.task.status);
        if (message.type === 'status') setStatus(message.status);
        // The end reason and times come with the task: read it again once the stream is over.
        if (message.type === 'call_ended') void reload();
      }),
    );
  }
  return h(
    'tr',
    { 'data-task-id': task.id },
    h('td', {}, h('a', { href: `#/tasks/${seg(task.id)}` }, task.id)),
    h('td', {}, task.to),
    h('td', {}, status),
    h('td', {}, when(task.createdAt)),
    ended,
    h('td', { class: 'actions' }, callButton, stopButton, feedback),
  );
}

// ---------------------------------------------------------------------------------------------
// Calls without a task: inbound calls to the number and calls from this console.

/**
 * How often the list is read again while the tab is visible: a call that comes in (nothing is
 * watched for it, it has no id yet) appears within this, and a hidden tab asks nothing.
 */
const CALLS_REFRESH_MS = 4000;

function callsWithoutTask(section: HTMLElement, page: Disposer): void {
  const heading = h('h2', {}, 'Calls without a task');
  fill(section, heading, h('p', { class: 'muted' }, 'Loading…'));
  let reading = false;
  /** What the list shows now: drawn again only when it changed, so a link being clicked stays put. */
  let shown = '';
  const refresh = async (): Promise<void> => {
    // A slow answer: the next tick finds this read still going and skips.
    if (reading) return;
    reading = true;
    try {
      const calls = await newestCallsWithoutTask();
      const seen = JSON.stringify(calls);
      if (seen !== shown) fill(section, heading, ...callsTable(calls));
      shown = seen;
    } catch (err) {
      shown = '';
      fill(section, heading, h('p', { class: 'form-error' }, messageOf(err)));
    } finally {
      reading = false;
    }
  };
  void refresh();
  const timer = setInterval(() => {
    if (document.visibilityState === 'visible') void refresh();
  }, CALLS_REFRESH_MS);
  page.add(() => clearInterval(timer));
}

/** Two directions, one list: the newest of each, newest first overall. */
async function newestCallsWithoutTask(): Promise<CallSummaryView[]> {
  const pages = await Promise.all(['inbound', 'browser'].map((direction) => get<CallPage>(`/api/calls?direction=${direction}&limit=${PAGE_SIZE}`)));
  return pages
    .flatMap((page) => page.calls)
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
    .slice(0, PAGE_SIZE);
}

function callsTable(calls: CallSummaryView[]): HTMLElement[] {
  if (calls.length === 0) return [h('p', { class: 'muted' }, 'No inbound or browser calls yet.')];
  const rows = calls.map((call) =>
    h(
      'tr',
      { 'data-call-id': call.id },
      h('td', {}, h('a', { href: `#/calls/${seg(call.id)}` }, call.id)),
      h('td', {}, call.direction),
      h('td', {}, call.from ?? '—'),
      h('td', {}, h('span', { class: `status status-${call.status}`, 'data-status': call.status }, call.status)),
      h('td', {}, when(call.startedAt ?? call.createdAt)),
      h('td', {}, call.durationMs === undefined ? '—' : clock(call.durationMs)),
      h('td', {}, call.endReason ?? ''),
    ),
  );
  return [h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ...['Call', 'Direction', 'From', 'Status', 'Started', 'Length', 'End'].map((title) => h('th', {}, title)))), h('tbody', {}, ...rows))];
}
