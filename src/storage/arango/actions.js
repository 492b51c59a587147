// The mycelium's multi-document writes, run by ArangoDB as JavaScript
// transactions (POST /_api/transaction). Each call is one transaction that
// commits all of its writes or none, and declares `meta` exclusive: that
// lock is the store's writer gate, so writers run one at a time, event `seq`
// numbers follow commit order, and no write skew is possible (a consumer
// submitted while its producer completes sees the producer's final state).
//
// Every timestamp comes from the server's clock (Date.now() here, DATE_NOW()
// in AQL), never from a client's. Payloads (job arguments, results) arrive
// and are stored as JSON text: this code never parses them, so integers
// beyond 2^53 survive (JavaScript holds numbers as doubles).
//
// The Rust side wraps this file in `function (params) { ... }` and calls
// mycelium(db, query)[params.op](params). The unit tests run the same text
// under node against an in-memory database (actions_test.js).

var QUERIES = {
  consumers: 'FOR d IN deps FILTER d._from == @from COLLECT consumer = d.consumer RETURN consumer',
  downstream:
    'FOR v IN 1..100000 OUTBOUND @start deps OPTIONS { order: "bfs", uniqueVertices: "global" } ' +
    'FILTER v != null RETURN v.id',
  held: 'FOR j IN jobs FILTER j.holder == @holder AND j.state == "claimed" SORT j.id RETURN { job: j.id, epoch: j.epoch }',
  expired:
    'FOR j IN jobs FILTER j.lease_until != null AND j.lease_until < @now AND j.state == "claimed" ' +
    'SORT j.lease_until LIMIT 1000 RETURN { job: j.id, epoch: j.epoch, holder: j.holder, until: j.lease_until }',
  lost_elves:
    'FOR e IN elves FILTER e.state == "running" AND e.lease_until < @now SORT e.instance ' +
    'RETURN { key: e._key, instance: e.instance }',
  elf: 'FOR e IN elves FILTER e.instance == @instance LIMIT 1 RETURN e',
  open_jobs: 'FOR j IN jobs FILTER j.run == @run AND j.state IN ["pending", "ready", "claimed"] SORT j.id RETURN j.id',
  run_by_idem: 'FOR r IN runs FILTER r.idem_key == @key LIMIT 1 RETURN r.id',
  run_jobs: 'FOR j IN jobs FILTER j.run == @run SORT j.id RETURN j.id',
  task_name: 'FOR n IN task_names FILTER n.elf == @elf AND n.task == @task AND n.sha == @sha LIMIT 1 RETURN n._key',
  leader: 'FOR l IN leaders FILTER l.role == @role LIMIT 1 RETURN l',
  retry_downstream:
    'FOR d IN deps FILTER d._from == @from LET c = DOCUMENT(jobs, TO_STRING(d.consumer)) ' +
    'FILTER c != null AND c.state IN ["upstream_failed", "cancelled"] COLLECT id = c.id RETURN id'
};

function mycelium(db, query) {
  'use strict';
  var now = Date.now();
  var counters = db._collection('meta').document('counters');
  var next = { seq: counters.seq, failure: counters.failure };
  var dirty = false;

  // ---- documents ----

  function get(name, key) {
    try {
      return db._collection(name).document(String(key));
    } catch (e) {
      if (e.errorNum === 1202) return null;
      throw e;
    }
  }
  function put(name, doc) {
    db._collection(name).insert(doc);
  }
  function patch(name, key, fields) {
    db._collection(name).update(String(key), fields, { keepNull: true, mergeObjects: false });
  }
  function bump(counts, key, n) {
    counts[key] = (counts[key] || 0) + n;
  }
  function merge(into, from) {
    Object.keys(from).forEach(function (k) {
      bump(into, k, from[k]);
    });
  }
  function seconds() {
    return Math.floor(now / 1000);
  }

  // ---- the event log ----

  function event(kind, f) {
    next.seq += 1;
    dirty = true;
    var doc = { _key: String(next.seq), seq: next.seq, at: now, kind: kind, expires: seconds() };
    if (f.run != null) doc.run = f.run;
    if (f.job != null) doc.job = f.job;
    if (f.state != null) doc.state = f.state;
    doc.data = f.data === undefined ? null : f.data;
    put('events', doc);
  }
  function jobEvent(run, job, state, data) {
    event('job_state', { run: run, job: job, state: state, data: data });
  }

  // ---- runs ----

  function finishRun(run, state, reason) {
    patch('runs', run, { state: state, finished_at: now });
    event('run_finished', { run: run, data: { state: state, reason: reason } });
  }
  // closed: { run: [jobs made final, of which failed] }
  function closeJobs(closed) {
    Object.keys(closed).forEach(function (key) {
      var r = get('runs', key);
      if (r === null) return;
      var open = r.open - closed[key][0];
      var failed = r.failed + closed[key][1];
      patch('runs', key, { open: open, failed: failed });
      if (open <= 0 && r.state === 'running') finishRun(r.id, failed > 0 ? 'failed' : 'succeeded', null);
    });
  }
  function close(closed, run, failed) {
    var c = closed[run] || (closed[run] = [0, 0]);
    c[0] += 1;
    c[1] += failed ? 1 : 0;
  }

  // ---- leases ----

  function holds(j, lease) {
    return j !== null && j.state === 'claimed' && j.epoch === lease.epoch;
  }
  // Why a lease's write was refused; a repeat of a completion that took
  // effect with this same epoch is 'ok'.
  function settled(lease) {
    var j = get('jobs', lease.job);
    if (j === null) return 'lease_lost';
    if (j.state === 'cancelled') return 'cancelled';
    if (j.state === 'succeeded' && j.epoch === lease.epoch) {
      var r = get('results', lease.job);
      return r !== null && r.epoch === lease.epoch ? 'ok' : 'lease_lost';
    }
    return 'lease_lost';
  }

  // ---- failures ----

  function report(kind, message, retryable) {
    return {
      kind: kind, message: message, causes: [], frames: [], inputs: null,
      inputs_truncated: false, inputs_size: 0, retryable: retryable
    };
  }
  function insertFailure(f) {
    next.failure += 1;
    dirty = true;
    var host = null;
    var pid = null;
    if (f.instance != null) {
      var e = query('elf', { instance: f.instance });
      if (e.length > 0) {
        host = e[0].host;
        pid = e[0].pid;
      }
    }
    put('failures', {
      _key: String(next.failure), id: next.failure, job: f.job, run: f.run, elf: f.elf, task: f.task,
      attempt: f.attempt, epoch: f.epoch, instance: f.instance, host: host, pid: pid, started_at: f.started_at,
      at: now, signature: signature(f.report, f.elf, f.task), will_retry: f.will_retry, report: f.report
    });
    return next.failure;
  }
  // The delay before attempt `nextAttempt`, as RetryPolicy::jittered_delay_ms.
  function retryDelay(policy, nextAttempt) {
    var raw;
    if (policy.backoff.kind === 'exponential') {
      var exp = Math.min(Math.max(nextAttempt - 2, 0), 62);
      var scaled = policy.backoff.initial_ms * Math.pow(policy.backoff.factor, exp);
      raw = isFinite(scaled) && scaled < 18446744073709551616 ? Math.floor(scaled) : Number.MAX_SAFE_INTEGER;
    } else {
      raw = policy.backoff.delay_ms;
    }
    var delay = Math.min(raw, policy.max_delay_ms);
    if (policy.jitter && delay > 1) {
      var low = Math.floor(delay / 2);
      return low + Math.floor(Math.random() * (delay - low + 1));
    }
    return delay;
  }
  // Records a failed attempt of a claimed job and decides what follows.
  function failJob(lease, rep) {
    var j = get('jobs', lease.job);
    if (!holds(j, lease)) return { outcome: settled(lease), failure: null, retry_at: null, readied: {} };
    var willRetry = rep.retryable && j.attempt < j.max_attempts && rep.kind !== 'upstream_failed';
    var failure = insertFailure({
      job: j.id, run: j.run, elf: j.elf, task: j.task, attempt: j.attempt, epoch: lease.epoch,
      instance: j.holder, started_at: j.started_at, will_retry: willRetry, report: rep
    });
    var ranSha = rep.ran_sha != null ? rep.ran_sha : j.ran_sha;
    var readied = {};
    if (willRetry) {
      var delay = retryDelay(j.retry, j.attempt + 1);
      var notBefore = now + delay;
      patch('jobs', j.id, {
        state: 'ready', ready_elf: j.elf, lease_until: null, not_before: notBefore, ran_sha: ranSha, updated_at: now
      });
      jobEvent(j.run, j.id, 'ready', { failure: failure, retry: j.attempt + 1, not_before: notBefore });
      if (delay === 0) readied[j.elf] = 1;
      return { outcome: 'ok', failure: failure, retry_at: notBefore, readied: readied };
    }
    patch('jobs', j.id, { state: 'failed', lease_until: null, ran_sha: ranSha, finished_at: now, updated_at: now });
    jobEvent(j.run, j.id, 'failed', { failure: failure });
    var closed = {};
    close(closed, j.run, true);
    propagateFailure(j.id, failure, closed);
    closeJobs(closed);
    return { outcome: 'ok', failure: failure, retry_at: null, readied: readied };
  }
  // Every job downstream of `job` (transitively) that has not run becomes
  // upstream_failed, with a failure record each.
  function propagateFailure(job, cause, closed) {
    var rep = report(
      'upstream_failed', 'upstream job ' + job + ' failed (failure ' + cause + '), so this job could not run', false);
    query('downstream', { start: 'jobs/' + job }).forEach(function (id) {
      var c = get('jobs', id);
      if (c === null || (c.state !== 'pending' && c.state !== 'ready')) return;
      patch('jobs', id, { state: 'upstream_failed', ready_elf: null, finished_at: now, updated_at: now });
      insertFailure({
        job: c.id, run: c.run, elf: c.elf, task: c.task, attempt: c.attempt, epoch: 0, instance: null,
        started_at: null, will_retry: false, report: rep
      });
      jobEvent(c.run, c.id, 'upstream_failed', { upstream: job, failure: cause });
      close(closed, c.run, true);
    });
  }
  // Consumers whose last producer this was become ready.
  function propagateSuccess(job, readied) {
    query('consumers', { from: 'jobs/' + job }).forEach(function (id) {
      var c = get('jobs', id);
      if (c === null || c.state !== 'pending') return;
      var fields = { unmet: c.unmet - 1, updated_at: now };
      var ready = c.unmet === 1;
      if (ready) {
        fields.state = 'ready';
        fields.ready_elf = c.elf;
      }
      patch('jobs', id, fields);
      if (ready) {
        jobEvent(c.run, c.id, 'ready', null);
        bump(readied, c.elf, 1);
      }
    });
  }

  // ---- the operations ----

  var ops = {
    record_tasks: function (p) {
      p.versions.forEach(function (v) {
        var added = false;
        if (get('tasks', v.sha) === null) {
          put('tasks', {
            _key: v.sha, sha: v.sha, elf: v.elf, name: v.name, source: v.source, file: v.file, line: v.line,
            signature: v.signature, doc: v.doc, first_seen: now
          });
          added = true;
        }
        if (query('task_name', { elf: v.elf, task: v.name, sha: v.sha }).length === 0) {
          put('task_names', { elf: v.elf, task: v.name, sha: v.sha, first_seen: now });
          added = true;
        }
        if (added) event('task_recorded', { data: { sha: v.sha, elf: v.elf, task: v.name } });
      });
      return null;
    },

    // The elf's own lease is re-based on the server's clock: it keeps the
    // length the elf asked for (lease_until - heartbeat_at).
    register_elf: function (p) {
      var e = p.elf;
      var ttl = Math.max(0, e.lease_until - e.heartbeat_at);
      var found = query('elf', { instance: e.instance });
      if (found.length === 0) {
        put('elves', {
          instance: e.instance, elf: e.elf, host: e.host, pid: e.pid, build: e.build, tasks: e.tasks,
          slots: e.slots, started_at: e.started_at, heartbeat_at: now, lease_until: now + ttl, state: e.state,
          gone_at: null
        });
      } else {
        patch('elves', found[0]._key, {
          heartbeat_at: now, lease_until: now + ttl, state: e.state, tasks: e.tasks, slots: e.slots, gone_at: null
        });
      }
      event('elf_started', { data: { instance: e.instance, elf: e.elf, host: e.host, pid: e.pid } });
      return null;
    },

    heartbeat: function (p) {
      var until = now + p.ttl;
      var found = query('elf', { instance: p.instance });
      if (found.length > 0) {
        patch('elves', found[0]._key, { heartbeat_at: now, lease_until: until, state: 'running', gone_at: null });
      }
      return p.held.map(function (lease) {
        var j = get('jobs', lease.job);
        if (holds(j, lease)) {
          patch('jobs', j.id, { lease_until: until });
          return 'ok';
        }
        return settled(lease);
      });
    },

    elf_gone: function (p) {
      var found = query('elf', { instance: p.instance });
      var heartbeat = null;
      if (found.length > 0) {
        heartbeat = found[0].heartbeat_at;
        patch('elves', found[0]._key, { state: p.lost ? 'lost' : 'stopped', gone_at: seconds() });
      }
      event('elf_stopped', { data: { instance: p.instance, lost: p.lost } });
      var readied = {};
      query('held', { holder: p.instance }).forEach(function (lease) {
        var rep = report('elf_lost', 'elf instance ' + p.instance + ' ' + (p.lost ? 'died' : 'stopped') +
          ' while running the job (last heartbeat at ' + (heartbeat === null ? 'never' : heartbeat) + ')', true);
        merge(readied, failJob(lease, rep).readied);
      });
      return readied;
    },

    // Ids were reserved beforehand (so that the client binds references
    // exactly); everything else is checked and written here.
    submit: function (p) {
      if (p.run.idem_key != null) {
        var prior = query('run_by_idem', { key: p.run.idem_key });
        if (prior.length > 0) return { existing: true, run: prior[0], jobs: query('run_jobs', { run: prior[0] }) };
      }
      var states = {};
      for (var i = 0; i < p.existing.length; i++) {
        var producer = get('jobs', p.existing[i]);
        if (producer === null) return { unknown_job: p.existing[i] };
        states[p.existing[i]] = producer.state;
      }
      var run = p.run.id;
      put('runs', {
        _key: String(run), id: run, name: p.run.name, labels: p.run.labels, created_by: p.run.created_by,
        created_at: now, finished_at: null, state: 'running', idem_key: p.run.idem_key, total: p.jobs.length,
        open: p.jobs.length, failed: 0
      });
      event('run_created', { run: run, data: { name: p.run.name } });
      var readied = {};
      var ready = 0;
      var finals = 0;
      p.jobs.forEach(function (s) {
        s.deps.forEach(function (d) {
          put('deps', {
            _from: 'jobs/' + d[1], _to: 'jobs/' + s.id, producer: d[1], consumer: s.id, path: d[0], run: run
          });
        });
        var unmet = 0;
        var upstreamFailed = false;
        s.producers.forEach(function (pid) {
          var st = states[pid] !== undefined ? states[pid] : 'pending';
          if (st === 'succeeded') return;
          if (st === 'failed' || st === 'upstream_failed' || st === 'cancelled') upstreamFailed = true;
          else unmet += 1;
        });
        var state = upstreamFailed ? 'upstream_failed' : unmet === 0 ? 'ready' : 'pending';
        var final = state === 'upstream_failed';
        states[s.id] = state;
        if (state === 'ready') {
          bump(readied, s.elf, 1);
          ready += 1;
        }
        if (final) finals += 1;
        put('jobs', {
          _key: String(s.id), id: s.id, run: run, key: s.key, elf: s.elf, task: s.task, args: s.args,
          state: state, unmet: unmet, priority: s.priority, rank: 0 - s.priority, attempt: 0,
          max_attempts: s.retry.max_attempts, retry: s.retry,
          timeout_ms: s.timeout_ms, expected_sha: s.expected_sha, ran_sha: null, holder: null, lease_until: null,
          epoch: 0, not_before: 0, created_at: now, updated_at: now, started_at: null,
          finished_at: final ? now : null, ready_elf: state === 'ready' ? s.elf : null, producers: s.producers
        });
        jobEvent(run, s.id, state, null);
      });
      if (finals > 0) {
        var closed = {};
        closed[run] = [finals, finals];
        closeJobs(closed);
      }
      return { existing: false, run: run, ready: ready, readied: readied };
    },

    cancel_run: function (p) {
      var r = get('runs', p.run);
      if (r === null) return { unknown_run: p.run };
      if (r.state !== 'running') return { cancelled: 0 };
      var ids = query('open_jobs', { run: p.run });
      ids.forEach(function (id) {
        patch('jobs', id, { state: 'cancelled', ready_elf: null, lease_until: null, finished_at: now, updated_at: now });
        jobEvent(p.run, id, 'cancelled', { reason: p.reason });
      });
      patch('runs', p.run, { open: r.open - ids.length, failed: r.failed + ids.length });
      finishRun(p.run, 'cancelled', p.reason);
      return { cancelled: ids.length };
    },

    complete: function (p) {
      var readied = {};
      var closed = {};
      var outcomes = p.done.map(function (c) {
        var j = get('jobs', c.job);
        if (!holds(j, c)) return settled(c);
        patch('jobs', j.id, {
          state: 'succeeded', ran_sha: c.ran_sha != null ? c.ran_sha : j.ran_sha, lease_until: null,
          finished_at: now, updated_at: now
        });
        put('results', { _key: String(j.id), job: j.id, epoch: c.epoch, value: c.value, at: now });
        jobEvent(j.run, j.id, 'succeeded', null);
        propagateSuccess(j.id, readied);
        close(closed, j.run, false);
        return 'ok';
      });
      closeJobs(closed);
      return { outcomes: outcomes, readied: readied };
    },

    fail: function (p) {
      return failJob(p.lease, p.report);
    },

    release: function (p) {
      var readied = {};
      var outcomes = p.leases.map(function (lease) {
        var j = get('jobs', lease.job);
        if (!holds(j, lease)) return settled(lease);
        patch('jobs', j.id, {
          state: 'ready', ready_elf: j.elf, attempt: j.attempt - 1, lease_until: null, updated_at: now
        });
        jobEvent(j.run, j.id, 'ready', { released: true });
        bump(readied, j.elf, 1);
        return 'ok';
      });
      return { outcomes: outcomes, readied: readied };
    },

    reap: function () {
      var out = { expired: [], failed: [], lost_elves: [], readied: {} };
      query('expired', { now: now }).forEach(function (x) {
        var rep = report('lease_expired', 'the lease of elf instance ' + (x.holder == null ? '?' : x.holder) +
          ' ran out at ' + x.until + ' without a heartbeat', true);
        var f = failJob({ job: x.job, epoch: x.epoch }, rep);
        out.expired.push(x.job);
        if (f.retry_at === null) out.failed.push(x.job);
        merge(out.readied, f.readied);
      });
      query('lost_elves', { now: now }).forEach(function (e) {
        patch('elves', e.key, { state: 'lost', gone_at: seconds() });
        event('elf_stopped', { data: { instance: e.instance, lost: true } });
        out.lost_elves.push(e.instance);
      });
      return out;
    },

    // Re-queues failed, upstream_failed or cancelled jobs and everything
    // downstream that could not run because of them; reopens their runs.
    retry: function (p) {
      var todo = [];
      var seen = {};
      for (var i = 0; i < p.jobs.length; i++) {
        var asked = get('jobs', p.jobs[i]);
        if (asked === null) return { unknown_job: p.jobs[i] };
        var again = ['failed', 'upstream_failed', 'cancelled'].indexOf(asked.state) >= 0;
        if (again && !seen[asked.id]) {
          seen[asked.id] = true;
          todo.push(asked.id);
        }
      }
      var frontier = todo.slice();
      while (frontier.length > 0) {
        query('retry_downstream', { from: 'jobs/' + frontier.pop() }).forEach(function (id) {
          if (!seen[id]) {
            seen[id] = true;
            todo.push(id);
            frontier.push(id);
          }
        });
      }
      todo.sort(function (a, b) { return a - b; });
      var out = { jobs: todo, readied: {}, reopened: [] };
      var perRun = {};
      todo.forEach(function (id) {
        var j = get('jobs', id);
        // Producers not succeeded, counting those being retried now.
        var unmet = j.producers.filter(function (pid) {
          var producer = get('jobs', pid);
          return producer !== null && producer.state !== 'succeeded';
        }).length;
        var state = unmet === 0 ? 'ready' : 'pending';
        patch('jobs', id, {
          state: state, ready_elf: state === 'ready' ? j.elf : null, unmet: unmet,
          max_attempts: j.attempt + Math.max(1, j.retry.max_attempts), not_before: 0, lease_until: null,
          finished_at: null, updated_at: now
        });
        jobEvent(j.run, id, state, { retried: true });
        if (state === 'ready') bump(out.readied, j.elf, 1);
        bump(perRun, j.run, 1);
      });
      Object.keys(perRun).forEach(function (key) {
        var r = get('runs', key);
        var n = perRun[key];
        patch('runs', key, { open: r.open + n, failed: Math.max(r.failed - n, 0), state: 'running', finished_at: null });
        if (r.state !== 'running') {
          event('run_reopened', { run: r.id, data: { was: r.state } });
          out.reopened.push(r.id);
        }
      });
      return out;
    },

    lead: function (p) {
      var until = now + p.ttl;
      var found = query('leader', { role: p.role });
      if (found.length === 0) {
        put('leaders', { role: p.role, holder: p.holder, lease_until: until });
        return true;
      }
      if (found[0].holder === p.holder || found[0].lease_until < now) {
        patch('leaders', found[0]._key, { holder: p.holder, lease_until: until });
        return true;
      }
      return false;
    }
  };

  // Every operation writes the counters it used once, at its end.
  var wrapped = {};
  Object.keys(ops).forEach(function (name) {
    wrapped[name] = function (p) {
      var out = ops[name](p);
      if (dirty) db._collection('meta').update('counters', { seq: next.seq, failure: next.failure });
      return out;
    };
  });
  return wrapped;
}

// The grouping key of equal failures, exactly as FailureReport::signature in
// Rust: sha256 over kind, elf, task and the frames of interest (or the
// message, for kinds whose message is stable), the first 8 bytes in hex. Pure JavaScript, so that it does not
// depend on how the server's crypto module treats the NUL separators.
function signature(rep, elf, task) {
  var s = rep.kind + '\u0000' + elf + '\u0000' + task;
  var frames = (rep.frames || []).filter(function (f) { return f.of_interest; }).slice(0, 5);
  // Kinds whose message names ids or times group by kind and task alone.
  var stableMessage = ['upstream_failed', 'timeout', 'lease_expired', 'elf_lost'].indexOf(rep.kind) < 0;
  if (frames.length > 0) {
    frames.forEach(function (f) { s += '\u0000' + f['function']; });
  } else if (stableMessage) {
    s += '\u0001' + rep.message;
  }
  return sha256hex(utf8(s)).substring(0, 16);
}

function utf8(s) {
  var out = [];
  for (var i = 0; i < s.length; i++) {
    var c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      var d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return out;
}

function sha256hex(bytes) {
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ];
  var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  var msg = bytes.slice();
  var bits = bytes.length * 8;
  msg.push(0x80);
  while (msg.length % 64 !== 56) msg.push(0);
  for (var b = 7; b >= 0; b--) msg.push(b >= 4 ? Math.floor(bits / Math.pow(2, 8 * b)) & 255 : (bits >>> (8 * b)) & 255);
  var w = new Array(64);
  for (var off = 0; off < msg.length; off += 64) {
    for (var t = 0; t < 16; t++) {
      w[t] = (msg[off + 4 * t] << 24) | (msg[off + 4 * t + 1] << 16) | (msg[off + 4 * t + 2] << 8) | msg[off + 4 * t + 3];
    }
    for (t = 16; t < 64; t++) {
      var x = w[t - 15];
      var y = w[t - 2];
      var s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      var s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
    }
    var a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (t = 0; t < 64; t++) {
      var S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      var ch = (e & f) ^ (~e & g);
      var t1 = (hh + S1 + ch + K[t] + w[t]) | 0;
      var S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      var maj = (a & bb) ^ (a & c) ^ (bb & c);
      var t2 = (S0 + maj) | 0;
      hh = g; g = f; f = e; e = (d + t1) | 0; d = c; c = bb; bb = a; a = (t1 + t2) | 0;
    }
    h[0] = (h[0] + a) | 0; h[1] = (h[1] + bb) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
    h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
  }
  return h.map(function (v) { return ('00000000' + (v >>> 0).toString(16)).slice(-8); }).join('');
}
