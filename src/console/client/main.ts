// The console's entry: a header, and one page at a time chosen by the URL's hash, so every view
// has a link an operator can share (#/tasks/task_…) and the gateway serves one page.
import './styles.css';
import { fill, h } from './dom.js';
import { callRecordPage, taskPage } from './pages/call.js';
import { callsPage } from './pages/calls.js';
import { healthPage } from './pages/health.js';
import type { Page, Unmount } from './pages/page.js';
import { talkPage } from './pages/talk.js';

const ROUTES: Array<[RegExp, Page]> = [
  [/^#?\/?$/, callsPage],
  [/^#\/tasks\/([^/]+)$/, taskPage],
  [/^#\/calls\/([^/]+)$/, callRecordPage],
  [/^#\/talk$/, talkPage],
  [/^#\/health$/, healthPage],
];

const NAV: Array<[string, string]> = [
  ['#/', 'Calls'],
  ['#/talk', 'Talk to the agent'],
  ['#/health', 'Health'],
];

const main = h('main', { id: 'page' });
const nav = h('nav', {}, ...NAV.map(([href, label]) => h('a', { href }, label)));
let unmount: Unmount | undefined;

function route(): void {
  unmount?.();
  const hash = location.hash || '#/';
  for (const link of nav.querySelectorAll('a')) link.classList.toggle('current', hash === link.getAttribute('href') || (link.getAttribute('href') === '#/' && /^#\/(tasks|calls)\//.test(hash)));
  for (const [pattern, page] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    unmount = page(main, match.slice(1).map((part) => decodeURIComponent(part)));
    return;
  }
  fill(main, h('h1', {}, 'Not found'), h('p', {}, h('a', { href: '#/' }, 'Back to the calls')));
  unmount = undefined;
}

document.body.prepend(h('header', { class: 'top' }, h('a', { class: 'brand', href: '#/' }, 'Gateway console'), nav), main);
addEventListener('hashchange', route);
route();
