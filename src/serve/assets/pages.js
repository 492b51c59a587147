// The dashboard's pages (the failure page is failure.js).

import { get, post } from './api.js';
import { ago, badge, duration, h, live, progressBar, throttle } from './app.js';
import { drawGraph } from './graph.js';
import { action, form, parsed } from './agents.js';

const progressOf = (r) => ({ total: r.total, failed: r.failed, open: r.open, succeeded: r.total - r.open - r.failed });

function pager(prev, next) {
  return h(
    'div',
    { class: 'pager' },
    h('button', { disabled: !prev, onclick: prev || null, 'data-page': 'prev' }, '← newer'),
    h('button', { disabled: !next, onclick: next || null, 'data-page': 'next' }, 'older →'),
  );
}

function table(headers, rows) {
  return h('table', {}, h('thead', {}, h('tr', {}, headers.map((x) => h('th', {}, x)))), h('tbody', {}, rows));
}

// The submit form, made from the chosen task's signature: one JSON field
// per argument of its latest version. `submitted(answer)` runs after a submit.
function submitForm(all, submitted) {
  const argsBox = h('span', { id: 'submit-args' });
  let params = [];
  const showArgs = async (name) => {
    params = [];
    argsBox.replaceChildren();
    delete argsBox.dataset.task;
    if (!name) return;
    const [elf, task] = name.split('/');
    const versions = await get(`/api/tasks/${encodeURIComponent(elf)}/${encodeURIComponent(task)}`);
    params = versions[versions.length - 1].signature.params;
    argsBox.replaceChildren(...params.map((p, i) => h('label', { 'data-param': p.name }, `${p.name}: `, h('small', {}, p.ty), ' ',
      h('input', { name: 'arg' + i, placeholder: 'JSON', size: 16, required: true }), ' ')));
    argsBox.dataset.task = name;
  };
  const el = form({ id: 'submit-form' }, async (f) => {
    const name = f.task.value;
    if (!name || argsBox.dataset.task !== name) throw new Error('choose a task first');
    const [elf, task] = name.split('/');
    const args = params.map((p, i) => parsed(f['arg' + i].value, `argument ${p.name}`));
    const doc = { run: { name: f.run.value.trim() || task }, jobs: [{ elf, task, args }] };
    if (f.key.value.trim()) doc.run.idempotency_key = f.key.value.trim();
    const s = await post('/api/runs', doc);
    submitted(s);
    return `${s.existing ? 'already submitted with this key' : 'submitted'}: run r${s.run}, job j${s.jobs[0]}`;
  },
  h('select', { name: 'task', required: true, onchange: (e) => showArgs(e.target.value).catch(() => {}) },
    h('option', { value: '' }, 'task…'), all.map((t) => h('option', { value: `${t.elf}/${t.task}` }, `${t.elf}/${t.task}`))), ' ',
  argsBox,
  h('label', {}, 'run ', h('input', { name: 'run', placeholder: 'name', size: 14 })), ' ',
  h('label', {}, 'key ', h('input', { name: 'key', placeholder: 'optional', size: 12 })), ' ',
  h('button', {}, 'Submit'));
  return el;
}

// Runs, most recent first, refreshed live; a form that submits one.
export async function runs(main) {
  const limit = 25;
  let offset = 0;
  const body = h('div', {});
  const known = await get('/api/tasks');
  const submit = known.length === 0 ? h('p', { class: 'muted' }, 'No task recorded yet: start an elf to submit its tasks here.')
    : submitForm(known, () => { offset = 0; load().catch(() => {}); });
  main.replaceChildren(h('h1', {}, 'Runs'), h('details', { id: 'submit' }, h('summary', {}, 'Submit a run'), submit), body);
  const load = async () => {
    const page = await get(`/api/runs?limit=${limit}&offset=${offset}`);
    const rows = page.items.map((r) =>
      h(
        'tr',
        { 'data-run': r.id },
        h('td', {}, h('a', { href: '/runs/' + r.id }, 'r' + r.id)),
        h('td', {}, r.name),
        h('td', {}, badge(r.state)),
        h('td', { class: 'wide' }, progressBar(progressOf(r)), h('small', {}, `${r.total - r.open - r.failed}/${r.total}`)),
        h('td', {}, String(r.failed)),
        h('td', {}, ago(r.created_at)),
        h('td', {}, duration((r.finished_at || Date.now()) - r.created_at)),
      ),
    );
    body.replaceChildren(
      page.items.length === 0 && offset === 0
        ? h('p', { class: 'muted' }, 'No runs yet: a driver, POST /api/runs or a webhook creates one.')
        : table(['run', 'name', 'state', 'progress', 'failed', 'created', 'duration'], rows),
      pager(
        offset > 0 ? () => { offset = Math.max(0, offset - limit); load(); } : null,
        page.next !== undefined ? () => { offset = page.next; load(); } : null,
      ),
    );
  };
  await load();
  const refresh = throttle(() => load().catch(() => {}), 1000);
  live({}, (e) => {
    if (e.kind === 'run_created' || e.kind === 'run_finished' || e.kind === 'run_reopened' || e.kind === 'job_state') refresh();
  });
}

const STATES = ['pending', 'ready', 'claimed', 'succeeded', 'failed', 'upstream_failed', 'cancelled'];

// One run: progress, graph, jobs page by page, refreshed live.
export async function run(main, id) {
  const view = await get(`/api/runs/${encodeURIComponent(id)}?jobs=0`);
  const r = view.run;
  const head = h('div', {});
  const graphBox = h('div', { class: 'graph', id: 'graph' }, h('p', { class: 'muted' }, 'Drawing the graph…'));
  const jobsBox = h('div', { id: 'jobs' });
  let filter = '';
  const cursors = [null];
  const actions = (run) => h('p', { id: 'run-actions' },
    run.state === 'running' ? action('Cancel the run', `/api/runs/${run.id}/cancel`, () => refresh(), { id: 'cancel-run' }) : '', ' ',
    run.failed > 0 ? action('Retry its failed jobs', `/api/runs/${run.id}/retry`, () => refresh(), { id: 'retry-run' }) : '');
  let refresh = () => {};
  const showHead = (v, counts) => {
    const run = v.run;
    head.replaceChildren(
      h('h1', {}, `Run r${run.id} `, h('span', { class: 'name' }, run.name), ' ', badge(run.state)),
      h('div', { class: 'wide' }, progressBar(v.progress)),
      h(
        'p',
        { class: 'counts', id: 'counts' },
        `${v.progress.succeeded}/${v.progress.total} succeeded, ${v.progress.failed} failed, ${v.progress.open} open`,
        counts ? ' · ' + STATES.filter((s) => counts[s]).map((s) => `${counts[s]} ${s}`).join(', ') : '',
      ),
      h('p', { class: 'muted' }, `created ${ago(run.created_at)} by ${run.created_by.program || '?'} on ${run.created_by.host || '?'}`,
        run.failed > 0 ? h('span', {}, ' · ', h('a', { href: `/failures?run=${run.id}` }, 'failures of this run')) : ''),
      actions(run),
    );
  };
  const loadJobs = async () => {
    const after = cursors[cursors.length - 1];
    const q = new URLSearchParams({ limit: '50' });
    if (after) q.set('after', after);
    if (filter) q.set('state', filter);
    const page = await get(`/api/runs/${r.id}/jobs?${q}`);
    const select = h(
      'select',
      { onchange: (e) => { filter = e.target.value; cursors.length = 1; loadJobs(); } },
      h('option', { value: '' }, 'all states'),
      STATES.map((s) => h('option', { value: s, selected: s === filter }, s)),
    );
    const rows = page.items.map((j) =>
      h(
        'tr',
        { 'data-job': j.id },
        h('td', {}, h('a', { href: '/jobs/' + j.id }, 'j' + j.id)),
        h('td', {}, j.key || '-'),
        h('td', {}, `${j.elf}/${j.task}`),
        h('td', {}, badge(j.state)),
        h('td', {}, `${j.attempt}/${j.max_attempts}`),
        h('td', {}, j.started_at ? duration((j.finished_at || Date.now()) - j.started_at) : '-'),
      ),
    );
    jobsBox.replaceChildren(
      h('h2', {}, 'Jobs ', select),
      table(['job', 'key', 'task', 'state', 'attempt', 'duration'], rows),
      pager(
        cursors.length > 1 ? () => { cursors.pop(); loadJobs(); } : null,
        page.next !== undefined ? () => { cursors.push(page.next); loadJobs(); } : null,
      ),
    );
  };
  const loadGraph = async () => {
    const g = await get(`/api/runs/${r.id}/graph?max_nodes=300`);
    drawGraph(graphBox, g);
    return g;
  };
  showHead(view, null);
  main.replaceChildren(head, h('h2', {}, 'Graph'), graphBox, jobsBox);
  const [g] = await Promise.all([loadGraph(), loadJobs()]);
  showHead(view, g.counts);
  let counts = g.counts;
  refresh = throttle(async () => {
    try {
      const v = await get(`/api/runs/${r.id}?jobs=0`);
      const g2 = await loadGraph();
      counts = g2.counts;
      showHead(v, counts);
      await loadJobs();
    } catch (e) {
      /* the next event retries */
    }
  }, 1000);
  live({ run: r.id }, () => refresh());
}

// One job: its state, result or failures, producers and consumers.
export async function job(main, id) {
  const v = await get(`/api/jobs/${encodeURIComponent(id)}`);
  const j = v.job;
  const events = await get(`/api/jobs/${j.id}/events?limit=200`);
  const history = events.items.length === 0 ? h('p', { class: 'muted' }, 'No event recorded.') :
    table(['seq', 'when', 'event', 'state', 'data'], events.items.map((e) => h('tr', { 'data-seq': e.seq },
      h('td', {}, String(e.seq)), h('td', { title: new Date(e.at).toISOString() }, ago(e.at)), h('td', {}, e.kind),
      h('td', {}, e.state ? badge(e.state) : '-'),
      h('td', {}, e.data === null || e.data === undefined ? '' : h('code', {}, JSON.stringify(e.data).slice(0, 120))))));
  const link = (l) => h('tr', {}, h('td', {}, l.path || '/'), h('td', {}, h('a', { href: '/jobs/' + l.job }, 'j' + l.job)),
    h('td', {}, `${l.elf}/${l.task}`), h('td', {}, badge(l.state)));
  main.replaceChildren(...[
    h('h1', {}, `Job j${j.id} `, h('span', { class: 'name' }, `${j.elf}/${j.task}`), ' ', badge(j.state)),
    h('p', {}, 'run ', h('a', { href: '/runs/' + j.run }, 'r' + j.run), ` · attempt ${j.attempt}/${j.max_attempts} · epoch ${j.epoch}`,
      j.state === 'waiting' ? h('span', {}, ' · ', h('a', { href: '/flows/' + j.id, id: 'flow-link' }, 'a flow: what it waits for')) : '',
      j.ran_sha ? h('span', {}, ' · ran ', h('a', { href: `/tasks/${j.elf}/${j.task}?sha=${j.ran_sha}` }, j.ran_sha.slice(0, 12))) : ''),
    ['failed', 'upstream_failed', 'cancelled'].includes(j.state)
      ? h('p', {}, action('Retry the job', `/api/jobs/${j.id}/retry`, () => job(main, id), { id: 'retry-job' }),
        ' ', h('span', { class: 'muted' }, 'a new attempt, and of what could not run because of it'))
      : '',
    h('h2', {}, 'Arguments'),
    h('pre', {}, JSON.stringify(j.args, null, 2)),
    v.result !== undefined ? [h('h2', {}, 'Result'), h('pre', { id: 'result' }, JSON.stringify(v.result, null, 2))] : '',
    v.failures.length
      ? [h('h2', {}, 'Failures'), table(['failure', 'attempt', 'kind', 'when', 'message'], v.failures.map((f) =>
          h('tr', {}, h('td', {}, h('a', { href: '/failures/' + f.id }, 'f' + f.id)), h('td', {}, String(f.attempt)),
            h('td', {}, f.report.kind), h('td', {}, ago(f.at)), h('td', {}, f.report.message.split('\n')[0]))))]
      : '',
    h('h2', {}, 'Producers'),
    v.producers.length ? table(['path', 'job', 'task', 'state'], v.producers.map(link)) : h('p', { class: 'muted' }, 'none: every input is a literal'),
    h('h2', {}, 'Consumers'),
    v.consumers.length ? table(['path', 'job', 'task', 'state'], v.consumers.map(link)) : h('p', { class: 'muted' }, 'none'),
    h('h2', {}, 'History'),
    h('div', { id: 'history' }, history, events.next !== undefined ? h('p', { class: 'muted' }, 'the first 200 events: ',
      h('a', { href: `/api/jobs/${j.id}/events?after=${events.next}` }, 'the rest (JSON)')) : ''),
  ].flat());
}

// Failures, listed or grouped by signature.
export async function failures(main) {
  const params = new URLSearchParams(location.search);
  const grouped = params.get('group') === 'true';
  const filters = new URLSearchParams();
  for (const k of ['run', 'task', 'kind', 'elf']) if (params.get(k)) filters.set(k, params.get(k));
  const toggle = h('p', {}, grouped
    ? h('a', { href: '/failures?' + filters }, 'list them')
    : h('a', { href: '/failures?group=true&' + filters }, 'group by signature'));
  if (grouped) {
    const groups = await get('/api/failures/groups?' + filters);
    main.replaceChildren(h('h1', {}, 'Failures by signature'), toggle, groups.length === 0 ? h('p', { class: 'muted' }, 'No failures.') :
      table(['count', 'task', 'kinds', 'first', 'last', 'example', 'message'], groups.map((g) => h('tr', { 'data-signature': g.signature },
        h('td', {}, String(g.count)), h('td', {}, `${g.elf}/${g.task}`), h('td', {}, g.kinds.join(', ')), h('td', {}, ago(g.first_seen)),
        h('td', {}, ago(g.last_seen)), h('td', {}, h('a', { href: '/failures/' + g.example }, 'f' + g.example)),
        h('td', {}, g.message.split('\n')[0])))));
    return;
  }
  let offset = 0;
  const body = h('div', {});
  main.replaceChildren(h('h1', {}, 'Failures'), toggle, body);
  const load = async () => {
    const q = new URLSearchParams(filters);
    q.set('limit', '50');
    q.set('offset', String(offset));
    const page = await get('/api/failures?' + q);
    body.replaceChildren(
      page.items.length === 0 ? h('p', { class: 'muted' }, 'No failures.') :
        table(['failure', 'job', 'task', 'kind', 'attempt', 'when', 'message'], page.items.map((f) => h('tr', { 'data-failure': f.id },
          h('td', {}, h('a', { href: '/failures/' + f.id }, 'f' + f.id)), h('td', {}, h('a', { href: '/jobs/' + f.job }, 'j' + f.job)),
          h('td', {}, `${f.elf}/${f.task}`), h('td', {}, h('span', { class: 'badge failed' }, f.report.kind)), h('td', {}, String(f.attempt)),
          h('td', {}, ago(f.at)), h('td', {}, f.report.message.split('\n')[0])))),
      pager(offset > 0 ? () => { offset = Math.max(0, offset - 50); load(); } : null,
        page.next !== undefined ? () => { offset = page.next; load(); } : null),
    );
  };
  await load();
}

// Elf instances and their health.
export async function elves(main) {
  const load = async () => {
    const all = await get('/api/elves');
    main.replaceChildren(h('h1', {}, 'Elves'), all.length === 0 ? h('p', { class: 'muted' }, 'No elf has registered yet.') :
      table(['elf', 'instance', 'host', 'pid', 'health', 'slots', 'heartbeat', 'tasks', 'program'], all.map((e) => h('tr', { 'data-instance': e.instance },
        h('td', {}, e.elf), h('td', { title: e.instance }, e.instance.slice(0, 8)), h('td', {}, e.host), h('td', {}, String(e.pid)),
        h('td', {}, h('span', { class: 'badge ' + e.health }, e.health)), h('td', {}, String(e.slots)), h('td', {}, ago(e.heartbeat_at)),
        h('td', {}, String(e.tasks.length)), h('td', {}, (e.build && e.build.program) || '-')))));
  };
  await load();
  const refresh = throttle(() => load().catch(() => {}), 2000);
  live({}, (e) => { if (e.kind === 'elf_started' || e.kind === 'elf_stopped') refresh(); });
}

// The tasks the elves serve.
export async function tasks(main) {
  const all = await get('/api/tasks');
  main.replaceChildren(h('h1', {}, 'Tasks'), all.length === 0 ? h('p', { class: 'muted' }, 'No task recorded yet.') :
    table(['task', 'versions', 'latest seen'], all.map((t) => h('tr', {},
      h('td', {}, h('a', { href: `/tasks/${t.elf}/${t.task}` }, `${t.elf}/${t.task}`)), h('td', {}, String(t.versions.length)),
      h('td', {}, ago(t.latest_seen))))));
}

// One task: its versions, the source of one, the diff of two.
export async function task(main, elf, name) {
  const versions = await get(`/api/tasks/${encodeURIComponent(elf)}/${encodeURIComponent(name)}`);
  const wanted = new URLSearchParams(location.search).get('sha');
  const shown = versions.find((v) => wanted && v.sha.startsWith(wanted)) || versions[versions.length - 1];
  const source = h('pre', { class: 'source' }, shown.source.split('\n').map((text, i) =>
    h('div', { class: 'line' }, h('span', { class: 'no' }, String(shown.line + i)), text)));
  const diffBox = h('div', {});
  const rows = versions.map((v, i) => h('tr', {},
    h('td', {}, h('a', { href: `/tasks/${elf}/${name}?sha=${v.sha}` }, v.sha.slice(0, 12))), h('td', {}, ago(v.first_seen)),
    h('td', {}, `${v.file}:${v.line}`), h('td', {}, i === versions.length - 1 ? 'latest' : ''),
    h('td', {}, v.sha === shown.sha ? 'shown' : h('button', { onclick: async () => {
      const d = await get(`/api/tasks/${elf}/${name}/diff?from=${v.sha.slice(0, 12)}&to=${shown.sha.slice(0, 12)}`);
      diffBox.replaceChildren(h('h2', {}, 'Diff'), h('pre', { class: 'diff' }, d.unified.split('\n').map((l) =>
        h('div', { class: l.startsWith('+') ? 'add' : l.startsWith('-') ? 'del' : '' }, l))));
    } }, 'diff to shown'))));
  main.replaceChildren(
    h('h1', {}, `${elf}/${name} `, h('small', {}, shown.sha.slice(0, 12))),
    h('p', { class: 'muted' }, `${shown.file}:${shown.line} · first seen ${ago(shown.first_seen)}`),
    source,
    h('h2', {}, 'Versions'),
    table(['version', 'first seen', 'file:line', '', ''], rows),
    diffBox,
  );
}
