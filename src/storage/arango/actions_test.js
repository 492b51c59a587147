// Runs actions.js under node against an in-memory database: the logic of
// every transaction, checked without an ArangoDB server. The AQL queries
// that actions.js names are played by equivalent JavaScript below, and so is
// the claim (aql.rs), which drives the lifecycle.
//
// Run by the Rust unit test `actions_logic_under_node` (with a file of
// signature cases that Rust computed), or by hand: node actions_test.js
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const assert = require('assert');

const { clone, loadActions, database: emptyOrFull, queries: named, byId } = require('./fake_db.js');
const M = loadActions();

let clock = 1_700_000_000_000;
Date.now = () => clock;

const database = () => emptyOrFull(true);
const queries = (db) => named(db, M.QUERIES);

// One transaction: a fresh mycelium(db, query) per call, as on the server.
function tx(db, op, params) {
  return db.atomically(() => clone(M.mycelium(db, queries(db))[op](clone(params))));
}

// The claim query of aql.rs, played in JavaScript.
function claim(db, instance, elf, max, ttl) {
  const c = db.cols;
  const now = Date.now();
  const ready = c.jobs.all()
    .filter((j) => j.ready_elf === elf && j.state === 'ready' && j.not_before <= now && j.task === 't')
    .sort((a, b) => a.rank - b.rank || a.id - b.id).slice(0, max).sort(byId);
  const counters = c.meta.document('counters');
  return ready.map((j, i) => {
    c.jobs.update(j._key, {
      state: 'claimed', ready_elf: null, holder: instance, epoch: j.epoch + 1, attempt: j.attempt + 1,
      lease_until: now + ttl, started_at: now, updated_at: now,
    }, { mergeObjects: false });
    const seq = counters.seq + i + 1;
    c.events.insert({ _key: String(seq), seq, at: now, kind: 'job_state', run: j.run, job: j.id, state: 'claimed',
      data: { epoch: j.epoch + 1, attempt: j.attempt + 1, holder: instance } });
    c.meta.update('counters', { seq });
    return { job: j.id, epoch: j.epoch + 1, attempt: j.attempt + 1 };
  });
}

const retry = (max, delay) => ({ max_attempts: max, backoff: { kind: 'fixed', delay_ms: delay || 0 }, max_delay_ms: 60000, jitter: false });
let nextJob = 0;
let nextRun = 0;
// A submission as submit.rs sends it (ids reserved, arguments as text).
function submit(db, specs, extra) {
  const run = ++nextRun;
  const ids = specs.map(() => ++nextJob);
  const jobs = specs.map((s, i) => ({
    id: ids[i], key: null, elf: s.elf || 'e', task: 't', args: JSON.stringify(s.args || []),
    deps: (s.from || []).map((p, k) => ['/' + k, p < 0 ? ids[-p - 1] : p]),
    producers: [...new Set((s.from || []).map((p) => (p < 0 ? ids[-p - 1] : p)))],
    priority: s.priority || 0, retry: s.retry || retry(1), timeout_ms: null, expected_sha: null,
  }));
  const existing = [...new Set(specs.flatMap((s) => (s.from || []).filter((p) => p > 0)))];
  const answer = tx(db, 'submit', Object.assign({
    run: { id: run, name: 'r', labels: {}, created_by: { host: 'h', pid: 1, program: 'p' }, idem_key: null },
    jobs, existing,
  }, extra || {}));
  return { run, ids, answer };
}

const job = (db, id) => db.cols.jobs.document(id);
const run = (db, id) => db.cols.runs.document(id);
const report = (msg, retryable) => ({ kind: 'error', message: msg, causes: [], frames: [], inputs: null,
  inputs_truncated: false, inputs_size: 0, retryable: retryable !== false });

function checkLog(db) {
  // Consecutive seq numbers, and every job's state is the last event's.
  const events = db.cols.events.all().sort((a, b) => a.seq - b.seq);
  events.forEach((e, i) => assert.strictEqual(e.seq, i + 1, 'seq numbers have a gap'));
  assert.strictEqual(db.cols.meta.document('counters').seq, events.length);
  for (const j of db.cols.jobs.all()) {
    const mine = events.filter((e) => e.job === j.id);
    assert(mine.length > 0, `job ${j.id} has no event`);
    assert.strictEqual(mine[mine.length - 1].state, j.state, `job ${j.id}: state is not the log's last`);
  }
  const failures = db.cols.failures.all().map((f) => f.id).sort((a, b) => a - b);
  failures.forEach((id, i) => assert.strictEqual(id, i + 1));
}

const tests = {
  'completion makes consumers ready once and finishes the run': () => {
    const db = database();
    const { run: r, ids, answer } = submit(db, [{}, { from: [-1] }, { from: [-1] }, { from: [-2, -3, -2] }]);
    assert.deepStrictEqual(answer, { existing: false, run: r, ready: 1, readied: { e: 1 } });
    assert.strictEqual(job(db, ids[3]).unmet, 2);
    let c = claim(db, 'i', 'e', 10, 1000);
    assert.deepStrictEqual(c.map((x) => x.job), [ids[0]]);
    let out = tx(db, 'complete', { done: [{ job: ids[0], epoch: c[0].epoch, ran_sha: null, value: '{"v":1}' }] });
    assert.deepStrictEqual(out, { outcomes: ['ok'], readied: { e: 2 } });
    assert.strictEqual(db.cols.results.document(ids[0]).value, '{"v":1}');
    // A repeat with the same lease is ok; an older epoch is refused.
    out = tx(db, 'complete', { done: [{ job: ids[0], epoch: c[0].epoch, ran_sha: null, value: '2' }] });
    assert.deepStrictEqual(out.outcomes, ['ok']);
    out = tx(db, 'complete', { done: [{ job: ids[0], epoch: c[0].epoch - 1, ran_sha: null, value: '2' }] });
    assert.deepStrictEqual(out.outcomes, ['lease_lost']);
    assert.strictEqual(db.cols.results.document(ids[0]).value, '{"v":1}');
    c = claim(db, 'i', 'e', 10, 1000);
    out = tx(db, 'complete', { done: c.map((x) => ({ job: x.job, epoch: x.epoch, ran_sha: null, value: '1' })) });
    assert.deepStrictEqual(out, { outcomes: ['ok', 'ok'], readied: { e: 1 } });
    assert.strictEqual(job(db, ids[3]).state, 'ready');
    c = claim(db, 'i', 'e', 10, 1000);
    tx(db, 'complete', { done: [{ job: c[0].job, epoch: c[0].epoch, ran_sha: null, value: '1' }] });
    const done = run(db, r);
    assert.deepStrictEqual([done.state, done.open, done.failed], ['succeeded', 0, 0]);
    assert.strictEqual(db.cols.events.all().filter((e) => e.kind === 'run_finished').length, 1);
    checkLog(db);
  },

  'failures retry with backoff, then fail for good and propagate': () => {
    const db = database();
    const policy = { max_attempts: 3, backoff: { kind: 'exponential', initial_ms: 100, factor: 2 }, max_delay_ms: 150, jitter: false };
    const { run: r, ids } = submit(db, [{ retry: policy }, { from: [-1] }, { from: [-2] }, {}]);
    const delays = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      clock += 1000;
      const c = claim(db, 'i', 'e', 1, 1000).find((x) => x.job === ids[0]);
      assert(c, `attempt ${attempt} is claimable`);
      assert.strictEqual(c.attempt, attempt);
      const f = tx(db, 'fail', { lease: { job: ids[0], epoch: c.epoch }, report: report('boom ' + attempt) });
      assert.strictEqual(f.outcome, 'ok');
      assert.strictEqual(f.retry_at !== null, attempt < 3);
      if (f.retry_at !== null) delays.push(f.retry_at - clock);
      assert.deepStrictEqual(f.readied, {}, 'a delayed retry readies nothing yet');
    }
    assert.deepStrictEqual(delays, [100, 150], 'exponential backoff, capped');
    assert.deepStrictEqual([ids[0], ids[1], ids[2]].map((id) => job(db, id).state), ['failed', 'upstream_failed', 'upstream_failed']);
    const ups = db.cols.failures.all().filter((f) => f.report.kind === 'upstream_failed');
    assert.strictEqual(ups.length, 2);
    assert(ups[0].report.message.startsWith(`upstream job ${ids[0]} failed (failure 3)`), ups[0].report.message);
    assert.strictEqual(db.cols.failures.all().filter((f) => f.will_retry).length, 2);
    assert.strictEqual(run(db, r).state, 'running');
    const c = claim(db, 'i', 'e', 1, 1000);
    assert.strictEqual(c[0].job, ids[3]);
    tx(db, 'complete', { done: [{ job: ids[3], epoch: c[0].epoch, ran_sha: null, value: '5' }] });
    const done = run(db, r);
    assert.deepStrictEqual([done.state, done.open, done.failed], ['failed', 0, 3]);
    checkLog(db);
  },

  'a retry without delay readies the job at once; non-retryable errors fail at once': () => {
    const db = database();
    const { ids } = submit(db, [{ retry: retry(3) }, { retry: retry(3) }]);
    let c = claim(db, 'i', 'e', 2, 1000);
    let f = tx(db, 'fail', { lease: { job: ids[0], epoch: c[0].epoch }, report: report('again') });
    assert.deepStrictEqual(f.readied, { e: 1 });
    f = tx(db, 'fail', { lease: { job: ids[1], epoch: c[1].epoch }, report: report('never', false) });
    assert.strictEqual(f.retry_at, null);
    assert.strictEqual(job(db, ids[1]).state, 'failed');
    // A stale lease records nothing.
    const before = db.cols.failures.all().length;
    f = tx(db, 'fail', { lease: { job: ids[1], epoch: c[1].epoch }, report: report('late') });
    assert.deepStrictEqual([f.outcome, f.failure], ['lease_lost', null]);
    assert.strictEqual(db.cols.failures.all().length, before);
    checkLog(db);
  },

  'cancelling reaches the holder': () => {
    const db = database();
    const { run: r, ids } = submit(db, [{}, { from: [-1] }]);
    const c = claim(db, 'i', 'e', 1, 1000);
    assert.deepStrictEqual(tx(db, 'cancel_run', { run: r, reason: 'operator' }), { cancelled: 2 });
    assert.deepStrictEqual(tx(db, 'heartbeat', { instance: 'i', held: [{ job: ids[0], epoch: c[0].epoch }], ttl: 1000 }), ['cancelled']);
    assert.deepStrictEqual(tx(db, 'complete', { done: [{ job: ids[0], epoch: c[0].epoch, ran_sha: null, value: '1' }] }).outcomes, ['cancelled']);
    assert.strictEqual(run(db, r).state, 'cancelled');
    assert.deepStrictEqual(tx(db, 'cancel_run', { run: r, reason: 'again' }), { cancelled: 0 });
    assert.deepStrictEqual(tx(db, 'cancel_run', { run: 999, reason: 'x' }), { unknown_run: 999 });
    checkLog(db);
  },

  'expired leases are reaped on the server clock; lost elves are marked': () => {
    const db = database();
    tx(db, 'register_elf', { elf: { instance: 'i', elf: 'e', host: 'h', pid: 7, build: { version: '1' }, tasks: [], slots: 1,
      started_at: 5, heartbeat_at: 5, lease_until: 505, state: 'running' } });
    const e = db.cols.elves.all()[0];
    assert.deepStrictEqual([e.heartbeat_at, e.lease_until], [clock, clock + 500], 'the elf lease is re-based on the server clock');
    const { ids } = submit(db, [{ retry: retry(2) }, { retry: retry(1) }]);
    const c = claim(db, 'i', 'e', 2, 50);
    assert.deepStrictEqual(tx(db, 'reap', {}).expired, [], 'nothing expired yet');
    clock += 100;
    const out = tx(db, 'reap', {});
    assert.deepStrictEqual(out.expired, ids);
    assert.deepStrictEqual(out.failed, [ids[1]]);
    assert.deepStrictEqual(out.readied, { e: 1 });
    const f = db.cols.failures.all().find((x) => x.job === ids[0]);
    assert.strictEqual(f.report.kind, 'lease_expired');
    assert.deepStrictEqual([f.host, f.pid, f.instance], ['h', 7, 'i']);
    assert(f.report.message.includes('elf instance i ran out at'), f.report.message);
    // The stale holder is fenced off.
    assert.deepStrictEqual(tx(db, 'heartbeat', { instance: 'i', held: [{ job: ids[0], epoch: c[0].epoch }], ttl: 1000 }), ['lease_lost']);
    clock += 1001; // past the lease the stale heartbeat renewed
    assert.deepStrictEqual(tx(db, 'reap', {}).lost_elves, ['i']);
    assert.strictEqual(db.cols.elves.all()[0].state, 'lost');
    checkLog(db);
  },

  'a gone elf gives its jobs back at once': () => {
    const db = database();
    const { ids } = submit(db, [{ retry: retry(2) }]);
    claim(db, 'i', 'e', 1, 600000);
    assert.deepStrictEqual(tx(db, 'elf_gone', { instance: 'i', lost: true }), { e: 1 });
    assert.strictEqual(job(db, ids[0]).state, 'ready');
    const f = db.cols.failures.all()[0];
    assert.strictEqual(f.report.kind, 'elf_lost');
    assert(f.report.message.includes('elf instance i died'), f.report.message);
    checkLog(db);
  },

  'released jobs are ready again without counting the attempt': () => {
    const db = database();
    const { ids } = submit(db, [{}]);
    const c = claim(db, 'i', 'e', 1, 1000);
    assert.deepStrictEqual(tx(db, 'release', { leases: [{ job: ids[0], epoch: c[0].epoch }] }), { outcomes: ['ok'], readied: { e: 1 } });
    const again = claim(db, 'j', 'e', 1, 1000);
    assert.deepStrictEqual([again[0].job, again[0].attempt], [ids[0], 1]);
    assert.deepStrictEqual(tx(db, 'release', { leases: [{ job: ids[0], epoch: c[0].epoch }] }).outcomes, ['lease_lost']);
    checkLog(db);
  },

  'submissions: idempotency, unknown producers, failed producers': () => {
    const db = database();
    const first = submit(db, [{}], { run: { id: 100, name: 'r', labels: {}, created_by: {}, idem_key: 'k' } });
    assert.strictEqual(first.answer.existing, false);
    const again = submit(db, [{}], { run: { id: 101, name: 'r', labels: {}, created_by: {}, idem_key: 'k' } });
    assert.deepStrictEqual(again.answer, { existing: true, run: 100, jobs: first.ids });
    assert.strictEqual(db.cols.runs.all().length, 1);
    const events = db.cols.events.all().length;
    const unknown = submit(db, [{ from: [424242] }]);
    assert.deepStrictEqual(unknown.answer, { unknown_job: 424242 });
    assert.strictEqual(db.cols.runs.all().length, 1, 'a refused submission writes nothing');
    assert.strictEqual(db.cols.events.all().length, events);
    // A consumer of a failed job cannot run: it ends at once, and so does its run.
    const c = claim(db, 'i', 'e', 1, 1000);
    tx(db, 'fail', { lease: { job: first.ids[0], epoch: c[0].epoch }, report: report('x', false) });
    const late = submit(db, [{ from: [first.ids[0]] }]);
    assert.strictEqual(job(db, late.ids[0]).state, 'upstream_failed');
    assert.strictEqual(run(db, late.run).state, 'failed');
    assert.strictEqual(db.cols.deps.all().filter((d) => d.consumer === late.ids[0]).length, 1);
    checkLog(db);
  },

  'task versions and leadership': () => {
    const db = database();
    const v = { sha: 'a'.repeat(64), elf: 'e', name: 't', source: 's', file: 'f', line: 1, signature: {}, doc: '' };
    tx(db, 'record_tasks', { versions: [v, v] });
    tx(db, 'record_tasks', { versions: [v] });
    assert.strictEqual(db.cols.events.all().filter((e) => e.kind === 'task_recorded').length, 1);
    tx(db, 'record_tasks', { versions: [Object.assign({}, v, { elf: 'other' })] });
    assert.strictEqual(db.cols.task_names.all().length, 2);
    assert.strictEqual(db.cols.tasks.all().length, 1);
    assert.strictEqual(tx(db, 'lead', { role: 'c', holder: 'a', ttl: 100 }), true);
    assert.strictEqual(tx(db, 'lead', { role: 'c', holder: 'b', ttl: 100 }), false);
    assert.strictEqual(tx(db, 'lead', { role: 'c', holder: 'a', ttl: 100 }), true);
    clock += 150;
    assert.strictEqual(tx(db, 'lead', { role: 'c', holder: 'b', ttl: 100 }), true);
    assert.strictEqual(tx(db, 'lead', { role: 'c', holder: 'a', ttl: 100 }), false);
  },

  'retries re-queue failed jobs and what could not run, and reopen the run': () => {
    const db = database();
    const { run: r, ids } = submit(db, [{}, { from: [-1] }, { from: [-2] }, {}]);
    let c = claim(db, 'i', 'e', 2, 1000);
    tx(db, 'fail', { lease: { job: ids[0], epoch: c[0].epoch }, report: report('x', false) });
    tx(db, 'complete', { done: [{ job: ids[3], epoch: c[1].epoch, ran_sha: null, value: '1' }] });
    assert.strictEqual(run(db, r).state, 'failed');
    assert.deepStrictEqual(tx(db, 'retry', { jobs: [424242] }), { unknown_job: 424242 });
    const out = tx(db, 'retry', { jobs: [ids[0], ids[3]] });
    assert.deepStrictEqual(out, { jobs: [ids[0], ids[1], ids[2]], readied: { e: 1 }, reopened: [r] });
    assert.deepStrictEqual(ids.slice(0, 3).map((id) => job(db, id).state), ['ready', 'pending', 'pending']);
    assert.deepStrictEqual([job(db, ids[0]).max_attempts, job(db, ids[1]).unmet], [2, 1]);
    const reopened = run(db, r);
    assert.deepStrictEqual([reopened.state, reopened.open, reopened.failed, reopened.finished_at], ['running', 3, 0, null]);
    c = claim(db, 'i', 'e', 1, 1000);
    assert.deepStrictEqual([c[0].job, c[0].attempt], [ids[0], 2]);
    for (const id of ids.slice(0, 3)) {
      const k = id === ids[0] ? c : claim(db, 'i', 'e', 1, 1000);
      tx(db, 'complete', { done: [{ job: k[0].job, epoch: k[0].epoch, ran_sha: null, value: '1' }] });
    }
    assert.deepStrictEqual([run(db, r).state, run(db, r).open], ['succeeded', 0]);
    checkLog(db);
  },

  'sha-256 in plain JavaScript matches node': () => {
    for (const s of ['', 'abc', 'a\u0000b\u0001c', 'ünïcödé ✓ 🦀', 'x'.repeat(1000)]) {
      const want = crypto.createHash('sha256').update(s, 'utf8').digest('hex');
      assert.strictEqual(M.sha256hex(M.utf8(s)), want, JSON.stringify(s));
    }
  },
};

// Signatures must equal FailureReport::signature (cases computed by Rust).
const casesFile = process.argv[2];
if (casesFile) {
  tests['failure signatures match Rust'] = () => {
    for (const c of JSON.parse(fs.readFileSync(casesFile, 'utf8'))) {
      assert.strictEqual(M.signature(c.report, c.elf, c.task), c.signature, JSON.stringify(c.report));
    }
  };
}

let failed = 0;
let passed = 0;
for (const [name, t] of Object.entries(tests)) {
  try {
    t();
    passed++;
  } catch (e) {
    failed++;
    console.error(`FAILED ${name}: ${e.stack || e}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
