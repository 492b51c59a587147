// The failure page: what failed, the traceback beside the exact source that
// ran with the failing line marked, the inputs and their producers, the
// other attempts, and how to reproduce it.

import { get } from './api.js';
import { ago, badge, duration, h } from './app.js';

export async function failure(main, id) {
  const v = await get(`/api/failures/${encodeURIComponent(id)}`);
  const f = v.failure;
  const r = f.report;
  // Runs of frames outside the project fold into one line, as in `mycelium failure`.
  const frame = (fr, i) => h('li', { class: fr.of_interest ? 'ours' : 'theirs', value: i },
    h('span', { class: 'fn' }, fr.function), fr.file ? h('span', { class: 'at' }, ` ${fr.file}${fr.line ? ':' + fr.line : ''}`) : '');
  const fold = r.frames.some((fr) => fr.of_interest);
  const items = [];
  let hidden = [];
  const flush = () => {
    if (hidden.length === 0) return;
    items.push(h('li', { class: 'folded' }, h('details', {}, h('summary', {},
      `${hidden.length} frame${hidden.length === 1 ? '' : 's'} of std, the runtime or dependencies`),
      h('ol', { class: 'frames' }, hidden))));
    hidden = [];
  };
  r.frames.forEach((fr, i) => {
    if (fold && !fr.of_interest) hidden.push(frame(fr, i));
    else {
      flush();
      items.push(frame(fr, i));
    }
  });
  flush();
  const frames = r.frames.length === 0 ? h('p', { class: 'muted' }, 'no traceback recorded') : h('ol', { class: 'frames', id: 'frames' }, items);
  const source = v.version
    ? h('div', {}, h('h3', {}, `${v.version.elf}/${v.version.name} @ ${v.version.sha.slice(0, 12)} `,
        h('small', {}, `${v.version.file}:${v.version.line}`)),
      h('pre', { class: 'source', id: 'source' }, v.source.map((l) => h('div', { class: l.marked ? 'line marked' : 'line', 'data-line': l.line },
        h('span', { class: 'no' }, String(l.line)), l.text))),
      v.failing_line ? '' : h('p', { class: 'muted' }, 'no frame of the traceback falls within this source'))
    : h('p', { class: 'muted' }, 'the version that ran is not recorded');
  const lineage = v.lineage.length === 0 ? h('p', { class: 'muted' }, 'no upstream jobs: every input was a literal') :
    h('table', {}, h('thead', {}, h('tr', {}, ['path', 'producer', 'task', 'state'].map((x) => h('th', {}, x)))),
      h('tbody', {}, v.lineage.map((l) => h('tr', {}, h('td', {}, l.path || '/'),
        l.producer ? [h('td', {}, h('a', { href: '/jobs/' + l.producer.id }, 'j' + l.producer.id)),
          h('td', {}, `${l.producer.elf}/${l.producer.task}`), h('td', {}, badge(l.producer.state))]
          : [h('td', {}, '?'), h('td', {}, '(missing)'), h('td', {}, '-')]))));
  main.replaceChildren(
    h('h1', {}, `Failure f${f.id}: `, h('span', { class: 'badge failed' }, r.kind), ` in ${f.elf}/${f.task}`),
    h('p', {}, 'job ', h('a', { href: '/jobs/' + f.job }, 'j' + f.job), ' of run ', h('a', { href: '/runs/' + f.run }, 'r' + f.run),
      ` · attempt ${f.attempt}${v.job ? '/' + v.job.max_attempts : ''} · epoch ${f.epoch}`, v.job ? [' · job now ', badge(v.job.state)] : '',
      ` · ${f.will_retry ? 'another attempt was scheduled' : 'no retry'}`),
    h('p', { class: 'muted' }, `failed ${ago(f.at)}`, f.started_at ? ` after ${duration(f.at - f.started_at)}` : '',
      f.host ? ` on ${f.host} pid ${f.pid}` : '', ` · signature ${f.signature}`),
    h('pre', { class: 'message', id: 'message' }, r.message, r.causes.map((c) => '\ncaused by: ' + c)),
    v.newer_version ? h('p', { class: 'note' }, `The task has a newer version (${v.newer_version.slice(0, 12)}) than the one that failed: `,
      h('a', { href: `/tasks/${f.elf}/${f.task}` }, 'compare')) : '',
    h('div', { class: 'side-by-side' },
      h('section', {}, h('h2', {}, 'Traceback ', h('small', {}, '(innermost first; project frames bold)')), frames),
      h('section', {}, h('h2', {}, 'Source that ran'), source)),
    h('h2', {}, 'Inputs'),
    h('pre', { id: 'inputs' }, JSON.stringify(r.inputs, null, 2)),
    r.inputs_truncated ? h('p', { class: 'muted' }, `truncated: the full inputs were ${r.inputs_size} bytes`) : '',
    h('h2', {}, 'Their producers'),
    lineage,
    h('h2', {}, 'Attempts of this job'),
    h('table', {}, h('tbody', {}, v.attempts.map((a) => h('tr', { class: a.id === f.id ? 'current' : '' },
      h('td', {}, h('a', { href: '/failures/' + a.id }, 'f' + a.id)), h('td', {}, 'attempt ' + a.attempt), h('td', {}, a.report.kind),
      h('td', {}, ago(a.at)), h('td', {}, a.report.message.split('\n')[0]))))),
    v.reproduce ? h('h2', {}, 'Reproduce') : h('h2', {}, 'Cause'),
    v.reproduce ? h('pre', {}, v.reproduce)
      : v.cause ? h('p', {}, h('a', { href: '/failures/' + v.cause.id }, 'f' + v.cause.id),
        ` in job ${v.cause.job} (${v.cause.task}): ${v.cause.report.message.split('\n')[0]}`)
      : h('p', { class: 'muted' }, 'no failed upstream job was found (see the producers above)'),
  );
}
