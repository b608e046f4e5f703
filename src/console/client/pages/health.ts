// Health: calls now, the agent's turn-latency percentiles, how late and how busy the event loop
// runs (every frame of every call waits for it), bad frames from Twilio, and recent trouble.
// From /health and /api/telemetry/*, refreshed every few seconds while the page is open.
import type { FleetHealth } from '../../../fleet/figures.js';
import type { SummaryRow, TelemetryEvent } from '../../../telemetry/events.js';
import { get, messageOf } from '../api.js';
import { fill, h, when } from '../dom.js';
import { Disposer, type Page } from './page.js';

const REFRESH_MS = 5000;

type Health = Omit<FleetHealth, 'uptime_s'> & { status: string; version: string; uptime_s: number; agent: string };

/** End reasons that mean something went wrong (as the gateway's own `call ended` warning). */
const BAD_ENDS = new Set(['agent_error', 'unsupported_media_format', 'internal_error', 'send_buffer_full', 'message_too_big']);

/** Telemetry events an operator should see: bad input, refusals, failed analyses, lost audio, calls that ended badly. */
export function isTrouble(event: TelemetryEvent): boolean {
  if (event.action === 'bad_frame' || event.action === 'stream_refused' || event.action === 'call_refused' || event.action === 'frames_dropped') return true;
  if (event.component === 'media_stream' && event.action === 'stop') return BAD_ENDS.has(String(event.reason));
  if (event.component === 'tasks' && event.action === 'analysis') return event.state === 'failed';
  return false;
}

export const healthPage: Page = (root) => {
  const page = new Disposer();
  const body = h('div', { class: 'health' }, h('p', { class: 'muted' }, 'Loading…'));
  fill(root, h('h1', {}, 'Health'), body);
  const refresh = async (): Promise<void> => {
    try {
      const [health, summary, loop, recent] = await Promise.all([
        get<Health>('/health'),
        get<{ rows: SummaryRow[] }>('/api/telemetry/summary'),
        get<{ events: TelemetryEvent[] }>('/api/telemetry/recent?component=runtime&action=event_loop&limit=1'),
        get<{ events: TelemetryEvent[] }>('/api/telemetry/recent?limit=1000'),
      ]);
      fill(body, ...render(health, summary.rows, loop.events[0], recent.events.filter(isTrouble).slice(0, 20)));
    } catch (err) {
      fill(body, h('p', { class: 'form-error' }, messageOf(err)));
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), REFRESH_MS);
  page.add(() => clearInterval(timer));
  return page.dispose;
};

const ms = (value: unknown): string => (typeof value === 'number' ? `${value.toFixed(1)} ms` : '—');

function card(title: string, value: string | Node, note?: string, attrs: Record<string, string> = {}): HTMLElement {
  return h('div', { class: 'card', ...attrs }, h('h3', {}, title), h('p', { class: 'big' }, value), note ? h('p', { class: 'muted' }, note) : null);
}

function render(health: Health, rows: SummaryRow[], loop: TelemetryEvent | undefined, trouble: TelemetryEvent[]): Node[] {
  // The turn latency first: it is the figure a caller feels.
  const agentRows = rows
    .filter((row) => row.component === 'agent' && row.count > 0 && row.action !== 'connect')
    .sort((a, b) => Number(b.action === 'turn_latency') - Number(a.action === 'turn_latency'));
  const badFrames = rows.find((row) => row.component === 'media_stream' && row.action === 'bad_frame')?.count ?? 0;
  const utilization = typeof loop?.utilization === 'number' ? `${(loop.utilization * 100).toFixed(1)} %` : '—';
  return [
    h(
      'div',
      { class: 'cards' },
      card('Active calls', `${health.active_calls}`, `${health.pending_streams} waiting for start · cap ${health.max_concurrent_calls}`, { 'data-active-calls': String(health.active_calls) }),
      card('Gateway', health.status, `agent ${health.agent} · v${health.version} · up ${Math.round(health.uptime_s / 60)} min · ${health.workers} worker${health.workers === 1 ? '' : 's'}`),
      card('Event loop delay (p99)', ms(loop?.duration_ms), loop ? `p50 ${ms(loop.p50Ms)} · max ${ms(loop.maxMs)} · ${when(loop.ts)}` : 'no report yet (every 10 s)'),
      card('Event loop utilization', utilization, 'share of the last interval the media thread was busy'),
      card('Bad frames', `${badFrames}`, 'frames from Twilio skipped since the start', { 'data-bad-frames': String(badFrames) }),
    ),
    h('h2', {}, `Agent figures (${health.agent})`),
    agentRows.length
      ? h(
          'table',
          { class: 'list figures' },
          h('thead', {}, h('tr', {}, ...['Figure', 'Count', 'p50', 'p90', 'p95', 'p99', 'Max'].map((title) => h('th', {}, title)))),
          h(
            'tbody',
            {},
            ...agentRows.map((row) =>
              h('tr', { 'data-action': row.action }, h('td', {}, row.action), h('td', {}, String(row.count)), h('td', {}, ms(row.p50_ms)), h('td', {}, ms(row.p90_ms)), h('td', {}, ms(row.p95_ms)), h('td', {}, ms(row.p99_ms)), h('td', {}, ms(row.max_ms))),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No turn measured since the gateway started.'),
    h('h2', {}, 'Recent trouble'),
    trouble.length
      ? h(
          'table',
          { class: 'list' },
          h('thead', {}, h('tr', {}, ...['When', 'What', 'Call', 'Detail'].map((title) => h('th', {}, title)))),
          h('tbody', {}, ...trouble.map((event) => h('tr', {}, h('td', {}, when(event.ts)), h('td', {}, `${event.component}/${event.action}`), h('td', {}, event.call_sid ?? event.task_id ?? '—'), h('td', {}, detailOf(event))))),
        )
      : h('p', { class: 'muted' }, 'Nothing went wrong recently.'),
  ];
}

function detailOf(event: TelemetryEvent): string {
  const parts = ['kind', 'reason', 'state', 'frames'].filter((key) => event[key] !== undefined).map((key) => `${key}=${String(event[key])}`);
  return parts.join(' ') || '—';
}
