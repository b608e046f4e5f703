// Talk to the agent from this browser: the configured agent answers as on a phone call, and the
// call is recorded like any other.
import { messageOf, seg } from '../api.js';
import { fill, h } from '../dom.js';
import { BrowserCall, type CallFigures } from '../talk/browser-call.js';
import { Disposer, type Page } from './page.js';

export const talkPage: Page = (root) => {
  const page = new Disposer();
  const workletUrl = document.body.dataset.worklet!;
  const status = h('p', { class: 'talk-status', role: 'status' }, 'Not connected.');
  const figures = h('dl', { class: 'facts talk-figures' });
  const start = h('button', { type: 'button', class: 'primary big-button' }, 'Call from this browser');
  const hangUp = h('button', { type: 'button', disabled: true }, 'Hang up');
  let current: BrowserCall | undefined;

  const show = (f: CallFigures): void => {
    status.textContent = f.state === 'live' ? 'On the call: speak, the agent answers.' : f.state === 'ended' ? `Call ended: ${f.endedBecause ?? ''}` : 'Connecting…';
    for (const [key, value] of Object.entries(f)) status.dataset[key] = String(value);
    fill(
      figures,
      ...(
        [
          ['Sent', `${((f.framesSent * 20) / 1000).toFixed(1)} s of your voice`],
          ['Received', `${(f.agentBytes / 8000).toFixed(1)} s of the agent`],
          ['Played', `${(f.samplesPlayed / 8000).toFixed(1)} s`],
          ['Marks echoed', String(f.marksEchoed)],
          ['Clears (barge-ins)', String(f.clears)],
        ] as const
      ).flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]),
      f.callId && f.state === 'ended' ? h('p', {}, h('a', { href: `#/calls/${seg(f.callId)}` }, 'Open the recorded call')) : null,
    );
    start.disabled = f.state !== 'ended';
    hangUp.disabled = f.state !== 'live';
  };

  start.onclick = () => {
    start.disabled = true;
    status.textContent = 'Asking for the microphone…';
    current = new BrowserCall(workletUrl, show);
    current.start().catch((err: unknown) => {
      current?.hangUp();
      status.textContent = `Could not start the call: ${messageOf(err)}`;
      start.disabled = false;
    });
  };
  hangUp.onclick = () => current?.hangUp();
  page.add(() => current?.hangUp());

  fill(
    root,
    h('h1', {}, 'Talk to the agent'),
    h(
      'p',
      { class: 'muted' },
      "Uses your microphone and speaks the same media-stream protocol as Twilio (8 kHz mu-law, 20 ms frames), so you hear the configured agent as a caller would. Use headphones: the agent's voice should not reach the microphone.",
    ),
    h('div', { class: 'talk-buttons' }, start, hangUp),
    status,
    figures,
  );
  return page.dispose;
};
