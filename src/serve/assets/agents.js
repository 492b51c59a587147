// The pages of flows and agents: flows (start one, those waiting), one
// flow (history, waits, signals, inbox, a signal form), signals (with an
// emit form), queues, one queue (messages, dead letters with requeue, send,
// purge), schedules (next fire, pause, resume, trigger).

import { del, get, post } from './api.js';
import { ago, badge, duration, h, live, throttle } from './app.js';

function table(headers, rows) {
  return h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

const short = (v, n) => {
  const s = v === undefined ? '-' : typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
};

const when = (ms) => (ms === null || ms === undefined ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC');

// Parses JSON typed into a form, saying which field is wrong.
export function parsed(text, what) {
  const t = text.trim();
  if (t === '') return null;
  try {
    return JSON.parse(t);
  } catch (e) {
    throw new Error(`${what} is not JSON: ${e.message}`);
  }
}

// A form whose submit runs `action(form)` and shows its answer (or error).
export function form(attrs, action, ...fields) {
  const out = h('p', { class: 'result' });
  const el = h('form', Object.assign({}, attrs, {
    onsubmit: async (e) => {
      e.preventDefault();
      out.className = 'result';
      out.textContent = '';
      try {
        out.textContent = await action(e.target.elements);
      } catch (err) {
        out.className = 'result error';
        out.textContent = err.message || String(err);
      }
    },
  }), ...fields, out);
  return el;
}

// A button that posts to `path` and then calls `done(answer)`.
export function action(label, path, done, attrs) {
  return h('button', Object.assign({}, attrs || {}, {
    onclick: async (e) => {
      e.preventDefault();
      const b = e.target;
      b.disabled = true;
      try {
        await done(await post(path, {}));
      } catch (err) {
        b.title = err.message;
        b.classList.add('failed');
      }
      b.disabled = false;
    },
  }), label);
}

// Flows: a form to start one, and those waiting now.
export async function flows(main) {
  const list = h('div', {});
  const start = form({ id: 'start-flow' }, async (f) => {
    const doc = { task: f.task.value.trim(), args: parsed(f.args.value, 'the arguments') || [] };
    if (f.key.value.trim()) doc.key = f.key.value.trim();
    const s = await post('/api/flows', doc);
    setTimeout(() => { location.href = '/flows/' + s.job; }, 300);
    return `${s.existing ? 'already started' : 'started'}: run r${s.run}, job j${s.job}`;
  },
  h('label', {}, 'flow or task ', h('input', { name: 'task', placeholder: 'elf/name', size: 24, required: true })), ' ',
  h('label', {}, 'arguments ', h('input', { name: 'args', value: '[]', size: 30 })), ' ',
  h('label', {}, 'key ', h('input', { name: 'key', placeholder: 'optional', size: 16 })), ' ',
  h('button', {}, 'Start'));
  main.replaceChildren(h('h1', {}, 'Flows'), h('h2', {}, 'Start a flow'), start, h('h2', {}, 'Waiting now'), list);
  const load = async () => {
    const page = await get('/api/flows?limit=100');
    list.replaceChildren(page.items.length === 0 ? h('p', { class: 'muted' }, 'No flow is waiting.') :
      table(['flow', 'task', 'run', 'state', 'waiting since', 'timer'], page.items.map((j) => h('tr', { 'data-flow': j.id },
        h('td', {}, h('a', { href: '/flows/' + j.id }, 'j' + j.id)), h('td', {}, `${j.elf}/${j.task}`),
        h('td', {}, h('a', { href: '/runs/' + j.run }, 'r' + j.run)), h('td', {}, badge(j.state)), h('td', {}, ago(j.updated_at)),
        h('td', {}, j.not_before > 0 && j.not_before < 9e15 ? when(j.not_before) : '-')))));
  };
  await load();
  const refresh = throttle(() => load().catch(() => {}), 1000);
  live({}, (e) => { if (e.kind === 'job_state') refresh(); });
}

function outcome(s) {
  if (s.outcome === undefined) return s.awaited ? '(waiting)' : '-';
  const o = s.outcome;
  if ((s.kind === 'call' || s.kind === 'spawn') && o && 'ok' in o) return 'ok ' + short(o.ok, 60);
  if ((s.kind === 'call' || s.kind === 'spawn') && o && 'err' in o) return 'err ' + short(o.err.message || o.err, 60);
  if (s.kind === 'signal' && o && 'payload' in o) return 'signal ' + short(o.payload, 60);
  if (s.kind === 'signal' && o && 'timeout' in o) return 'timed out';
  if (s.kind === 'sleep') return 'fired';
  return short(o, 60);
}

// One flow: what it waits for, its history, its signals, its inbox, and a
// form that sends it a signal.
export async function flow(main, id) {
  const load = async () => {
    const v = await get(`/api/flows/${encodeURIComponent(id)}`);
    const lines = await get(`/api/flows/${v.job.id}/inbox`);
    const j = v.job;
    const w = v.waits;
    const waits = w.waiting
      ? h('ul', { id: 'waits' },
          w.signals.map((s) => h('li', { 'data-wait': 'signal' }, 'the signal ', h('code', {}, s))),
          w.steps.filter((s) => s.kind !== 'signal').map((s) => h('li', { 'data-wait': s.kind },
            `step ${s.k} (${s.kind} ${s.target})`, s.child ? h('span', {}, ' · job ', h('a', { href: '/jobs/' + s.child }, 'j' + s.child)) : '')),
          w.timer_due ? h('li', { 'data-wait': 'timer' }, `a timer due ${when(w.timer_due)} (in ${duration(w.timer_due - Date.now())})`) : '')
      : h('p', { class: 'muted', id: 'waits' }, j.state === 'claimed' ? 'running now' : `not waiting (${j.state.replace('_', ' ')})`);
    const history = table(['k', 'command', 'target', 'child', 'outcome', 'at', 'where'], v.steps.map((s) => h('tr', { 'data-step': s.k, class: s.awaited ? 'current' : null },
      h('td', {}, String(s.k)), h('td', {}, s.kind), h('td', {}, short(s.target, 40)),
      h('td', {}, s.child ? h('a', { href: '/jobs/' + s.child }, 'j' + s.child) : '-'), h('td', {}, outcome(s)), h('td', {}, ago(s.at)),
      h('td', {}, s.location || '-'))));
    const signals = v.signals.length === 0 ? h('p', { class: 'muted' }, 'None sent yet.') :
      table(['signal', 'name', 'payload', 'sent', 'consumed by'], v.signals.map((s) => h('tr', { 'data-signal': s.id },
        h('td', {}, String(s.id)), h('td', {}, s.name), h('td', {}, short(s.payload, 60)), h('td', {}, ago(s.sent_at)),
        h('td', {}, s.consumed_by === undefined ? 'not yet' : 'step ' + s.consumed_by))));
    const inbox = lines.length === 0 ? h('p', { class: 'muted', id: 'inbox' }, 'No line written.') :
      h('pre', { id: 'inbox' }, lines.map((l) => h('div', { 'data-line': l.step }, v.inboxes.length > 1 ? `${l.inbox}: ${l.line}` : l.line)));
    const sendForm = j.state === 'waiting' || j.state === 'claimed' || j.state === 'ready' || j.state === 'pending'
      ? form({ id: 'signal-form' }, async (f) => {
          const name = f.name.value.trim();
          const sent = await post(`/api/flows/${j.id}/signals/${encodeURIComponent(name)}`, parsed(f.payload.value, 'the payload'));
          setTimeout(() => load().catch(() => {}), 300);
          return `sent signal ${sent.signal} (${name}): ${sent.woke ? 'the flow woke' : 'kept until the flow waits for it'}`;
        },
        h('label', {}, 'signal ', h('input', { name: 'name', value: w.signals[0] || '', size: 16, required: true })), ' ',
        h('label', {}, 'payload ', h('input', { name: 'payload', value: 'null', size: 40 })), ' ',
        h('button', {}, 'Send'))
      : h('p', { class: 'muted' }, 'The flow has ended: it takes no more signals.');
    main.replaceChildren(
      h('h1', {}, `Flow j${j.id} `, h('span', { class: 'name' }, `${j.elf}/${j.task}`), ' ', badge(j.state)),
      h('p', {}, 'run ', h('a', { href: '/runs/' + j.run }, 'r' + j.run), ' · ', h('a', { href: '/jobs/' + j.id }, 'the job'),
        ` · ${v.steps.length} command(s) · created ${ago(j.created_at)}`),
      h('h2', {}, 'Waits for'), waits,
      h('h2', {}, 'Send a signal'), sendForm,
      h('h2', {}, 'History'), v.steps.length ? history : h('p', { class: 'muted' }, 'No command yet.'),
      h('h2', {}, 'Signals'), signals,
      h('h2', {}, 'Inbox'), inbox,
    );
    return j;
  };
  const j = await load();
  const refresh = throttle(() => load().catch(() => {}), 1000);
  live({ run: j.run }, () => refresh());
}

// Signals with their receivers, and a form to emit one.
export async function signals(main) {
  const all = await get('/api/signals');
  const emitForm = form({ id: 'emit-form' }, async (f) => {
    const name = f.signal.value;
    const q = f.key.value.trim() ? '?key=' + encodeURIComponent(f.key.value.trim()) : '';
    const e = await post(`/api/signals/${encodeURIComponent(name)}${q}`, parsed(f.payload.value, 'the payload'));
    return e.run === undefined || e.run === null ? `emitted ${name}: no receiver is subscribed`
      : `emitted ${name} to ${e.deliveries.length} receiver(s) in run r${e.run}${e.existing ? ' (already, with this key)' : ''}`;
  },
  h('select', { name: 'signal' }, all.map((s) => h('option', { value: s.name }, s.name))), ' ',
  h('label', {}, 'payload ', h('input', { name: 'payload', value: '{}', size: 40 })), ' ',
  h('label', {}, 'key ', h('input', { name: 'key', placeholder: 'optional', size: 14 })), ' ',
  h('button', {}, 'Emit'));
  main.replaceChildren(h('h1', {}, 'Signals'), ...(all.length === 0
    ? [h('p', { class: 'muted' }, 'No signal is declared yet: an elf declares the signals its receivers take, and those it emits, when it starts.')]
    : [table(['signal', 'receivers', 'emitted', 'last', 'declared by', 'schema'], all.map((s) => h('tr', { 'data-signal': s.name },
        h('td', {}, s.name), h('td', {}, s.receivers.length ? s.receivers.map((r) => `${r.elf}/${r.task}`).join(', ') : '-'),
        h('td', {}, String(s.emitted)), h('td', {}, ago(s.last_emitted_at)), h('td', {}, s.declared_by),
        h('td', {}, h('details', {}, h('summary', {}, 'schema'), h('pre', {}, JSON.stringify(s.schema, null, 2))))))),
       h('h2', {}, 'Emit a signal'), emitForm]));
}

// Queues: depths, oldest ages, dead letters.
export async function queues(main) {
  const load = async () => {
    const all = await get('/api/queues');
    main.replaceChildren(h('h1', {}, 'Queues'), all.length === 0
      ? h('p', { class: 'muted' }, 'No queue yet: a queue exists once the elf of its consumer has started.')
      : table(['queue', 'consumer', 'exchange', 'waiting', 'in flight', 'dead', 'oldest'], all.map((q) => h('tr', { 'data-queue': q.name },
          h('td', {}, h('a', { href: '/queues/' + encodeURIComponent(q.name) }, q.name)), h('td', {}, `${q.elf}/${q.task}`),
          h('td', {}, q.exchange ? `${q.exchange}${q.topics && q.topics.length ? ' ' + q.topics.join(' ') : ' (fanout)'}` : '-'),
          h('td', {}, String(q.waiting)), h('td', {}, String(q.in_flight)),
          h('td', {}, q.dead ? h('span', { class: 'badge failed' }, String(q.dead)) : '0'),
          h('td', {}, q.oldest_age_ms === null || q.oldest_age_ms === undefined ? '-' : duration(q.oldest_age_ms))))));
  };
  await load();
  const refresh = throttle(() => load().catch(() => {}), 1000);
  live({}, (e) => { if (e.kind === 'job_state') refresh(); });
}

// One queue: its messages, its dead letters (requeue one or all), send, purge.
export async function queue(main, name) {
  const path = '/api/queues/' + encodeURIComponent(name);
  // What the send form last answered: the page re-renders as messages
  // change state, and the answer must outlive that.
  let lastSent = '';
  const load = async () => {
    const [v, dead] = await Promise.all([get(path), get(path + '/dead')]);
    const q = v.queue;
    const payload = (j) => short(j.args && j.args[0], 70);
    const reload = () => load().catch(() => {});
    const sendForm = () => {
      const f = form({ id: 'send-form' }, async (f) => {
        const sent = await post(path + '/messages', { messages: [parsed(f.message.value, 'the message')] });
        lastSent = `sent: job(s) ${sent.messages.map((m) => 'j' + m.job).join(', ')}`;
        setTimeout(reload, 300);
        return lastSent;
      }, h('input', { name: 'message', value: '{}', size: 50 }), ' ', h('button', {}, 'Send'));
      f.querySelector('.result').textContent = lastSent;
      return f;
    };
    main.replaceChildren(
      h('h1', {}, `Queue ${q.name} `, h('span', { class: 'name' }, `consumed by ${q.elf}/${q.task}`)),
      h('p', { id: 'depths' }, `${q.waiting} waiting, ${q.in_flight} in flight, ${q.dead} dead`,
        q.oldest_age_ms !== null && q.oldest_age_ms !== undefined ? `; oldest ${duration(q.oldest_age_ms)} old` : '',
        ` · ${q.retry.max_attempts} attempt(s) per message`, q.exchange ? ` · exchange ${q.exchange}` : ''),
      h('h2', {}, 'Messages'),
      v.messages.length === 0 ? h('p', { class: 'muted' }, 'None waiting.') :
        table(['job', 'state', 'attempt', 'sent', 'message'], v.messages.map((j) => h('tr', { 'data-message': j.id },
          h('td', {}, h('a', { href: '/jobs/' + j.id }, 'j' + j.id)), h('td', {}, badge(j.state)), h('td', {}, `${j.attempt}/${j.max_attempts}`),
          h('td', {}, ago(j.created_at)), h('td', {}, payload(j))))),
      h('h2', {}, 'Dead letters ', dead.length ? action('Requeue all', path + '/requeue', reload, { id: 'requeue-all' }) : ''),
      dead.length === 0 ? h('p', { class: 'muted', id: 'dead' }, 'No dead message.') :
        table(['job', 'attempts', 'died', 'last failure', 'message', ''], dead.map((d) => h('tr', { 'data-dead': d.job.id },
          h('td', {}, h('a', { href: '/jobs/' + d.job.id }, 'j' + d.job.id)), h('td', {}, String(d.job.attempt)), h('td', {}, ago(d.job.finished_at)),
          h('td', {}, d.last_failure ? h('a', { href: '/failures/' + d.last_failure.id }, short(`${d.last_failure.report.kind}: ${d.last_failure.report.message}`, 60)) : '-'),
          h('td', {}, payload(d.job)),
          h('td', {}, h('button', { onclick: async (e) => {
            e.target.disabled = true;
            await post(path + '/requeue', { jobs: [d.job.id] });
            reload();
          } }, 'Requeue'))))),
      h('h2', {}, 'Send a message'),
      sendForm(),
      h('h2', {}, 'Purge'),
      h('p', {}, action('Purge waiting messages', path + '/purge', reload, { id: 'purge' }), ' ',
        h('span', { class: 'muted' }, 'drops the messages not claimed yet; those being consumed finish')),
    );
  };
  await load();
  const refresh = throttle(() => load().catch(() => {}), 1000);
  live({}, (e) => { if (e.kind === 'job_state') refresh(); });
}

function describe(spec) {
  if (spec.kind === 'every') return `every ${duration(spec.period_ms)}`;
  if (spec.kind === 'cron') return `cron ${spec.expr} (${spec.tz})`;
  return JSON.stringify(spec);
}

// Schedules: next fire times; pause, resume, trigger, remove; a form that
// adds one.
export async function schedules(main) {
  const list = h('div', { id: 'schedules' });
  const load = async () => {
    const all = await get('/api/schedules');
    const reload = () => load().catch(() => {});
    const path = (s, what) => `/api/schedules/${encodeURIComponent(s.name)}/${what}`;
    const remove = (s) => h('button', { 'data-action': 'remove', onclick: async (e) => {
      e.preventDefault();
      e.target.disabled = true;
      try {
        await del(`/api/schedules/${encodeURIComponent(s.name)}`);
      } catch (err) {
        e.target.title = err.message;
        e.target.classList.add('failed');
      }
      reload();
    } }, 'Remove');
    list.replaceChildren(all.length === 0
      ? h('p', { class: 'muted' }, 'No schedule: a task declares one with #[task(every = "15s")] or #[task(cron = "0 * * * *")], or add one below.')
      : table(['schedule', 'task', 'when', 'next fire', 'fired', 'skipped', 'state', 'policy', ''], all.map((s) => h('tr', { 'data-schedule': s.name },
          h('td', {}, s.name), h('td', {}, `${s.elf}/${s.task}`), h('td', {}, describe(s.spec)),
          h('td', { class: 'next' }, s.paused ? '-' : `${when(s.next_due)} (${s.next_in_ms >= 0 ? 'in ' + duration(s.next_in_ms) : duration(-s.next_in_ms) + ' ago'})`),
          h('td', {}, String(s.fired)), h('td', {}, String(s.skipped)), h('td', {}, h('span', { class: 'badge ' + s.state }, s.state)),
          h('td', {}, `missed=${s.missed} overlap=${s.overlap}`),
          h('td', {}, s.paused ? action('Resume', path(s, 'resume'), reload, { 'data-action': 'resume' }) : action('Pause', path(s, 'pause'), reload, { 'data-action': 'pause' }),
            ' ', action('Trigger now', path(s, 'trigger'), reload, { 'data-action': 'trigger' }), ' ', remove(s))))));
  };
  // The form stays put while the list refreshes, so that typing is never lost.
  const addForm = form({ id: 'schedule-form' }, async (f) => {
    const doc = { name: f.name.value.trim(), task: f.task.value.trim(), args: parsed(f.args.value, 'the arguments') || [] };
    const at = f.when.value.trim();
    if (f.kind.value === 'cron') {
      doc.cron = at;
      if (f.tz.value.trim()) doc.tz = f.tz.value.trim();
    } else doc.every = at;
    const s = await post('/api/schedules', doc);
    await load();
    return `added ${s.name} (${describe(s.spec)}): first tick ${when(s.next_due)}`;
  },
  h('label', {}, 'name ', h('input', { name: 'name', size: 14, required: true })), ' ',
  h('label', {}, 'task ', h('input', { name: 'task', placeholder: 'elf/task', size: 18, required: true })), ' ',
  h('select', { name: 'kind' }, h('option', { value: 'every' }, 'every'), h('option', { value: 'cron' }, 'cron')), ' ',
  h('input', { name: 'when', placeholder: '15s or 0 * * * *', size: 14, required: true }), ' ',
  h('label', {}, 'tz ', h('input', { name: 'tz', placeholder: 'UTC', size: 10 })), ' ',
  h('label', {}, 'arguments ', h('input', { name: 'args', value: '[]', size: 16 })), ' ',
  h('button', {}, 'Add'));
  main.replaceChildren(h('h1', {}, 'Schedules'), list, h('h2', {}, 'Add a schedule'), addForm);
  await load();
  const refresh = throttle(() => load().catch(() => {}), 2000);
  live({}, (e) => { if (e.kind === 'job_state' || e.kind === 'run_created' || e.kind === 'schedule_changed') refresh(); });
}
