// The timeline of a finished call: the stereo WAV (fetched, decoded here at its own 8 kHz) drawn
// as two waveforms on one time axis, the transcript placed at its times, each turn's latency as
// the gap it is, barge-ins marked, and a player whose playhead moves over the picture (a click
// seeks). Every position comes from TimeScale, so what is drawn at 12.4 s is at 12.4 s in the WAV.
import type { CallEvent, CallTranscriptLine } from '../../../calls/schemas.js';
import { request, storedKey } from '../api.js';
import { clock, fill, h, s } from '../dom.js';
import { MIN_PLOT_WIDTH, PLOT_LEFT, PLOT_RIGHT, ROWS, TimeScale, VIEW_HEIGHT, envelope, laneSlots } from './layout.js';
import { bargeIns, speechSegments, turnGaps, type BargeIn, type TurnGap } from './segments.js';
import { parseWav, type PcmRecording } from './wav.js';

export interface TimelineInput {
  audioUrl: string;
  transcript: CallTranscriptLine[];
  /** Why there is no transcript (the echo agent keeps none). */
  transcriptNote?: string;
  /** The gateway's own turns and barge-ins (the calls API); without them they are read from the audio. */
  events?: CallEvent[];
}

/** Average width of a label character at the lane's font size, in view units. */
const CHAR_WIDTH = 6.4;

export async function mountTimeline(container: HTMLElement, input: TimelineInput): Promise<() => void> {
  fill(container, h('p', { class: 'muted' }, 'Loading the recording…'));
  const res = await request(input.audioUrl);
  if (!res.ok) {
    fill(container, h('p', { class: 'form-error' }, `The recording could not be fetched (${res.status}).`));
    return () => undefined;
  }
  const bytes = await res.arrayBuffer();
  const wav = parseWav(bytes);
  const scale = new TimeScale(wav.durationS);
  const marks = marksOf(wav, input.events);
  // A key cannot ride on an <audio> request: with one, play the bytes already here; without, the
  // element streams the URL itself with Range requests.
  const blobUrl = storedKey() === undefined ? undefined : URL.createObjectURL(new Blob([bytes], { type: 'audio/wav' }));
  const audio = h('audio', { controls: true, preload: 'metadata', src: blobUrl ?? input.audioUrl, class: 'player' });
  const playhead = s('line', { class: 'playhead', x1: PLOT_LEFT, x2: PLOT_LEFT, y1: ROWS.caller.top - 4, y2: VIEW_HEIGHT, 'data-seconds': 0 });
  const svg = s(
    'svg',
    {
      class: scale.plotWidth === MIN_PLOT_WIDTH ? 'timeline fits' : 'timeline',
      viewBox: `0 0 ${scale.viewWidth} ${VIEW_HEIGHT}`,
      width: scale.viewWidth,
      height: VIEW_HEIGHT,
      role: 'img',
      'aria-label': `Timeline of the call, ${clock(wav.durationS * 1000)} long`,
      'data-duration-ms': Math.round(wav.durationS * 1000 * 1000) / 1000,
      'data-plot-left': PLOT_LEFT,
      'data-plot-width': scale.plotWidth,
    },
    axis(scale),
    waveform(scale, 'caller', 'Caller', wav.channels[0]!, ROWS.caller),
    waveform(scale, 'agent', 'Agent', wav.channels[1] ?? new Float32Array(wav.frames), ROWS.agent),
    ...marks.turns.map((gap) => turnGap(scale, gap)),
    ...marks.bargeIns.map((bargeIn) => bargeInMark(scale, bargeIn)),
    ...(input.transcript.length > 0
      ? [
          transcriptLane(scale, input.transcript.filter((line) => line.role === 'user'), ROWS.userLines, 'user'),
          transcriptLane(scale, input.transcript.filter((line) => line.role === 'assistant'), ROWS.agentLines, 'assistant'),
        ]
      : [s('text', { class: 'no-transcript', x: PLOT_LEFT, y: ROWS.userLines.top + 20 }, input.transcriptNote ?? 'No transcript for this call.')]),
    playhead,
  );
  const move = (): void => {
    const x = scale.x(audio.currentTime);
    playhead.setAttribute('x1', String(x));
    playhead.setAttribute('x2', String(x));
    playhead.dataset.seconds = audio.currentTime.toFixed(3);
    keepInView(svg, x, scale.viewWidth);
  };
  let frame = 0;
  const follow = (): void => {
    move();
    frame = audio.paused ? 0 : requestAnimationFrame(follow);
  };
  audio.addEventListener('play', () => (frame ||= requestAnimationFrame(follow)));
  audio.addEventListener('seeked', move);
  audio.addEventListener('timeupdate', move);
  svg.addEventListener('click', (event) => {
    const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(svg.getScreenCTM()!.inverse());
    audio.currentTime = scale.seconds(point.x);
    move();
  });
  // A long call scrolls sideways rather than squeezing a minute into a few pixels; its row labels stay put.
  const fits = scale.plotWidth === MIN_PLOT_WIDTH;
  const framed = h('div', { class: 'timeline-frame' }, h('div', { class: 'timeline-scroll' }, svg), fits ? null : stickyLabels(input.transcript.length > 0));
  fill(container, framed, audio, summary(wav, marks, Boolean(input.events)));
  return () => {
    cancelAnimationFrame(frame);
    audio.pause();
    if (blobUrl) URL.revokeObjectURL(blobUrl);
  };
}

/** The row labels of a scrolling picture, drawn over its left edge at the same 1:1 scale. */
function stickyLabels(withLanes: boolean) {
  const label = (text: string, y: number) => s('text', { class: 'row-label', x: PLOT_LEFT - 8, y, 'text-anchor': 'end' }, text);
  return s(
    'svg',
    { class: 'timeline-labels', width: PLOT_LEFT, height: VIEW_HEIGHT, viewBox: `0 0 ${PLOT_LEFT} ${VIEW_HEIGHT}`, 'aria-hidden': 'true' },
    s('rect', { class: 'labels-bg', x: 0, y: 0, width: PLOT_LEFT, height: VIEW_HEIGHT }),
    label('Caller', ROWS.caller.top + ROWS.caller.height / 2 + 4),
    label('Agent', ROWS.agent.top + ROWS.agent.height / 2 + 4),
    withLanes ? label('Caller said', ROWS.userLines.top + 14) : null,
    withLanes ? label('Agent said', ROWS.agentLines.top + 14) : null,
  );
}

/** Scrolls a wide picture so the playhead stays on screen. */
function keepInView(svg: SVGSVGElement, x: number, viewWidth: number): void {
  const box = svg.parentElement;
  if (!box || box.scrollWidth <= box.clientWidth) return;
  const at = (x / viewWidth) * box.scrollWidth;
  if (at < box.scrollLeft + 40 || at > box.scrollLeft + box.clientWidth - 40) box.scrollLeft = Math.max(0, at - box.clientWidth / 3);
}

interface Marks {
  turns: Array<TurnGap & { latencyMs?: number }>;
  bargeIns: BargeIn[];
}

/** The gateway's own events when it kept them; else what the audio shows. */
function marksOf(wav: PcmRecording, events: CallEvent[] | undefined): Marks {
  if (events) {
    return {
      turns: events.flatMap((e) => (e.type === 'turn' ? [{ from: e.userStoppedAtMs / 1000, to: e.agentStartedAtMs / 1000, latencyMs: e.latencyMs }] : [])),
      bargeIns: events.flatMap((e) => (e.type === 'barge_in' ? [{ callerStart: e.callerStartedAtMs / 1000, agentCut: e.cutAtMs / 1000 }] : [])),
    };
  }
  const caller = speechSegments(wav.channels[0]!, wav.sampleRate);
  const agent = wav.channels[1] ? speechSegments(wav.channels[1], wav.sampleRate) : [];
  return { turns: turnGaps(caller, agent), bargeIns: bargeIns(caller, agent) };
}

function axis(scale: TimeScale) {
  const step = scale.tickStep();
  const ticks = [];
  for (let t = 0; t <= scale.durationS + 1e-9; t += step) {
    const x = scale.x(t);
    ticks.push(s('line', { class: 'tick', x1: x, x2: x, y1: ROWS.axis.height - 6, y2: ROWS.agent.top + ROWS.agent.height }));
    ticks.push(s('text', { class: 'tick-label', x, y: ROWS.axis.height - 10, 'text-anchor': 'middle' }, clock(t * 1000)));
  }
  return s('g', { class: 'axis' }, ...ticks);
}

function waveform(scale: TimeScale, channel: 'caller' | 'agent', label: string, samples: Float32Array, row: { top: number; height: number }) {
  const columns = scale.plotWidth;
  const { min, max } = envelope(samples, columns);
  let peak = 0;
  for (let i = 0; i < columns; i++) peak = Math.max(peak, max[i]!, -min[i]!);
  // Each channel is scaled to its own peak: quiet phone audio stays readable; time is never scaled.
  const gain = (row.height / 2 - 2) / Math.max(peak, 0.02);
  const middle = row.top + row.height / 2;
  const top: string[] = [];
  const bottom: string[] = [];
  for (let i = 0; i < columns; i++) {
    const x = (PLOT_LEFT + ((i + 0.5) * scale.plotWidth) / columns).toFixed(1);
    top.push(`${x},${(middle - Math.max(max[i]! * gain, 0.5)).toFixed(1)}`);
    bottom.push(`${x},${(middle - Math.min(min[i]! * gain, -0.5)).toFixed(1)}`);
  }
  const d = `M${top.join('L')}L${bottom.reverse().join('L')}Z`;
  return s(
    'g',
    { class: `channel channel-${channel}` },
    s('rect', { class: 'row-bg', x: PLOT_LEFT, y: row.top, width: scale.plotWidth, height: row.height }),
    s('text', { class: 'row-label', x: PLOT_LEFT - 8, y: middle + 4, 'text-anchor': 'end' }, label),
    s('path', { class: 'wave', d, 'data-channel': channel, 'data-peak': peak.toFixed(4) }),
  );
}

function turnGap(scale: TimeScale, gap: TurnGap & { latencyMs?: number }) {
  const x1 = scale.x(gap.from);
  const x2 = scale.x(gap.to);
  const ms = Math.round((gap.to - gap.from) * 1000);
  const label = gap.latencyMs === undefined ? `${ms} ms` : `${Math.round(gap.latencyMs)} ms`;
  return s(
    'g',
    { class: 'turn-gap', 'data-from-ms': Math.round(gap.from * 1000), 'data-to-ms': Math.round(gap.to * 1000), 'data-x1': x1.toFixed(2), 'data-x2': x2.toFixed(2) },
    s('title', {}, `Turn latency: the caller stopped at ${clock(gap.from * 1000)}, the agent was heard at ${clock(gap.to * 1000)} (${label})`),
    s('rect', { class: 'gap-shade', x: x1, y: ROWS.caller.top, width: Math.max(0.5, x2 - x1), height: ROWS.agent.top + ROWS.agent.height - ROWS.caller.top }),
    s('line', { class: 'gap-span', x1, x2, y1: ROWS.gap.top + 11, y2: ROWS.gap.top + 11 }),
    s('text', { class: 'gap-label', x: x2 + 3, y: ROWS.gap.top + 15 }, label),
  );
}

function bargeInMark(scale: TimeScale, bargeIn: BargeIn) {
  const start = scale.x(bargeIn.callerStart);
  const cut = scale.x(bargeIn.agentCut);
  return s(
    'g',
    { class: 'barge-in', 'data-caller-start-ms': Math.round(bargeIn.callerStart * 1000), 'data-cut-ms': Math.round(bargeIn.agentCut * 1000), 'data-x': start.toFixed(2) },
    s('title', {}, `Barge-in: the caller started speaking at ${clock(bargeIn.callerStart * 1000)}; the agent was cut at ${clock(bargeIn.agentCut * 1000)}`),
    s('line', { class: 'barge-start', x1: start, x2: start, y1: ROWS.caller.top, y2: ROWS.agent.top + ROWS.agent.height }),
    s('line', { class: 'barge-cut', x1: cut, x2: cut, y1: ROWS.agent.top, y2: ROWS.agent.top + ROWS.agent.height }),
    s('path', { class: 'barge-span', d: `M${start},${ROWS.gap.top + 4}L${cut},${ROWS.gap.top + 4}` }),
    s('text', { class: 'barge-label', x: start + 3, y: ROWS.caller.top + 11 }, 'barge-in'),
    s('text', { class: 'barge-label', x: cut + 3, y: ROWS.agent.top + ROWS.agent.height - 4 }, 'cut'),
  );
}

function transcriptLane(scale: TimeScale, lines: CallTranscriptLine[], row: { top: number; height: number }, role: 'user' | 'assistant') {
  const xs = lines.map((line) => scale.x(line.atMs / 1000));
  const texts = lines.map((line) => (line.interrupted ? `${line.text} ✂` : line.text));
  const slots = laneSlots(
    xs,
    CHAR_WIDTH,
    texts.map((text) => text.length),
    scale.viewWidth - PLOT_RIGHT,
  );
  const channelRow = role === 'user' ? ROWS.caller : ROWS.agent;
  return s(
    'g',
    { class: `lane lane-${role}` },
    s('text', { class: 'row-label', x: PLOT_LEFT - 8, y: row.top + 14, 'text-anchor': 'end' }, role === 'user' ? 'Caller said' : 'Agent said'),
    ...lines.map((line, index) => {
      const x = xs[index]!;
      const { line: sub, maxChars } = slots[index]!;
      const text = texts[index]!;
      const y = row.top + 14 + sub * 18;
      return s(
        'g',
        { class: `said said-${role}${line.interrupted ? ' interrupted' : ''}`, 'data-at-ms': line.atMs, 'data-x': x.toFixed(2), 'data-role': role },
        s('title', {}, `${clock(line.atMs)} ${line.text}${line.interrupted ? ' (interrupted: what the caller heard)' : ''}`),
        s('line', { class: 'said-stem', x1: x, x2: x, y1: channelRow.top + channelRow.height, y2: y - 4 }),
        s('circle', { class: 'said-dot', cx: x, cy: y - 4, r: 2.5 }),
        s('text', { class: 'said-text', x: x + 5, y }, text.length > maxChars ? `${text.slice(0, maxChars - 1)}…` : text),
      );
    }),
  );
}

function summary(wav: PcmRecording, marks: Marks, fromGateway: boolean) {
  const gaps = marks.turns.map((turn) => turn.latencyMs ?? (turn.to - turn.from) * 1000).sort((a, b) => a - b);
  const median = gaps.length ? gaps[Math.floor(gaps.length / 2)]! : undefined;
  return h(
    'p',
    { class: 'timeline-summary' },
    `${clock(wav.durationS * 1000)} recorded (${wav.channels.length} channels, ${wav.sampleRate} Hz) · `,
    `${marks.turns.length} turn${marks.turns.length === 1 ? '' : 's'}`,
    median === undefined ? '' : ` (median gap ${Math.round(median)} ms)`,
    ` · ${marks.bargeIns.length} barge-in${marks.bargeIns.length === 1 ? '' : 's'}`,
    fromGateway ? '' : ' · turns and barge-ins read from the audio',
  );
}
