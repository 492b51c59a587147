// The dashboard's entry: routes a path to its page, renders it into
// <main id="page">, and marks the page ready (data-ready) for tests and
// for the first-paint figure (performance mark `mycelium:rendered`).

import { ApiError, follow, setToken, token } from './api.js';
import { elves, failures, job, run, runs, task, tasks } from './pages.js';
import { failure } from './failure.js';
import { flow, flows, queue, queues, schedules, signals } from './agents.js';

const routes = [
  [/^\/(runs)?$/, 'runs', runs],
  [/^\/runs\/([^/]+)$/, 'run', run],
  [/^\/jobs\/([^/]+)$/, 'job', job],
  [/^\/failures$/, 'failures', failures],
  [/^\/failures\/([^/]+)$/, 'failure', failure],
  [/^\/elves$/, 'elves', elves],
  [/^\/tasks$/, 'tasks', tasks],
  [/^\/tasks\/([^/]+)\/([^/]+)$/, 'task', task],
  [/^\/flows$/, 'flows', flows],
  [/^\/flows\/([^/]+)$/, 'flow', flow],
  [/^\/signals$/, 'signals', signals],
  [/^\/queues$/, 'queues', queues],
  [/^\/queues\/([^/]+)$/, 'queue', queue],
  [/^\/schedules$/, 'schedules', schedules],
];

// Builds an element: h('a', {href: '/x', class: 'y'}, 'text', child, ...).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function ago(ms) {
  if (ms === null || ms === undefined) return '-';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 0) return 'just now';
  if (s < 60) return s + 's ago';
  if (s < 3600) return Math.floor(s / 60) + 'm ago';
  if (s < 172800) return Math.floor(s / 3600) + 'h ago';
  return Math.floor(s / 86400) + 'd ago';
}

export function duration(ms) {
  if (ms === null || ms === undefined || ms < 0) return '-';
  if (ms < 1000) return ms + 'ms';
  if (ms < 60000) return (ms / 1000).toFixed(1) + 's';
  return Math.floor(ms / 60000) + 'm' + String(Math.floor(ms / 1000) % 60).padStart(2, '0') + 's';
}

export function badge(state) {
  return h('span', { class: 'badge ' + state }, state.replace('_', ' '));
}

export function progressBar(p) {
  const pct = (n) => (p.total ? (100 * n) / p.total : 0).toFixed(2) + '%';
  return h(
    'div',
    { class: 'progress', title: `${p.succeeded} succeeded, ${p.failed} failed, ${p.open} open of ${p.total}` },
    h('span', { class: 'ok', style: 'width:' + pct(p.succeeded) }),
    h('span', { class: 'bad', style: 'width:' + pct(p.failed) }),
  );
}

// Calls fn at most once per `ms`, the last call winning.
export function throttle(fn, ms) {
  let timer = null;
  let again = false;
  return () => {
    if (timer) {
      again = true;
      return;
    }
    fn();
    timer = setTimeout(() => {
      timer = null;
      if (again) {
        again = false;
        fn();
      }
    }, ms);
  };
}

let stopLive = null;

// Follows the event stream for the current page; `onEvent` gets each event.
export function live(params, onEvent) {
  if (stopLive) stopLive();
  const badgeEl = document.getElementById('live');
  stopLive = follow(params, onEvent, (on) => {
    badgeEl.textContent = on ? '● live' : '○ offline';
    badgeEl.className = on ? 'live on' : 'live';
  });
}

function askForToken(main, message) {
  main.replaceChildren(
    h('h1', {}, 'A token is needed'),
    h('p', {}, message),
    h('p', { class: 'muted' }, 'Create one with ', h('code', {}, 'mycelium token create --scope read --name dashboard'), '.'),
    h(
      'form',
      {
        onsubmit: (e) => {
          e.preventDefault();
          setToken(e.target.elements.token.value);
          render();
        },
      },
      h('input', { name: 'token', type: 'password', placeholder: 'myc_…', size: 48, value: token() }),
      h('button', {}, 'Use this token'),
    ),
  );
}

export async function render() {
  const main = document.getElementById('page');
  const path = location.pathname.replace(/\/+$/, '') || '/';
  for (const [re, name, page] of routes) {
    const m = path.match(re);
    if (!m) continue;
    main.dataset.page = name;
    delete main.dataset.ready;
    for (const a of document.querySelectorAll('nav a')) {
      a.classList.toggle('current', name.startsWith(a.dataset.nav.replace(/s$/, '')));
    }
    try {
      await page(main, ...m.slice(1).filter((x) => x !== undefined).map(decodeURIComponent));
      main.dataset.ready = '1';
      if (!window.__rendered) {
        window.__rendered = performance.now();
        performance.mark('mycelium:rendered');
        document.body.dataset.renderedMs = String(Math.round(window.__rendered));
      }
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) askForToken(main, e.message);
      else main.replaceChildren(h('h1', {}, 'Error'), h('p', { class: 'error' }, e.message || String(e)));
      main.dataset.ready = 'error';
    }
    return;
  }
  main.dataset.page = 'missing';
  main.replaceChildren(h('h1', {}, 'No such page'), h('p', {}, h('a', { href: '/' }, 'Runs')));
  main.dataset.ready = '1';
}

render();
