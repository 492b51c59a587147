// An in-memory stand-in for an ArangoDB database, shared by the tests of
// actions.js (actions_test.js) and the stand-in server (fake_server.js).
// Collections keep documents by key; the named AQL queries of actions.js
// are played by equivalent JavaScript. Writes inside a transaction are
// journaled so that a failing one is undone.
'use strict';
const fs = require('fs');
const path = require('path');
const assert = require('assert');

const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
const arangoError = (num, message) => Object.assign(new Error(message), { errorNum: num });

// actions.js, loaded as the server would run it.
function loadActions() {
  const src = fs.readFileSync(path.join(__dirname, 'actions.js'), 'utf8');
  return new Function(src + '\nreturn { mycelium, QUERIES, signature, sha256hex, utf8 };')();
}

class Collection {
  constructor(name, journal) {
    this.name = name;
    this.docs = new Map();
    this.auto = 0;
    this.journal = journal;
  }
  document(key) {
    const d = this.docs.get(String(key));
    if (!d) throw arangoError(1202, 'document not found');
    return clone(d);
  }
  insert(doc) {
    const d = clone(doc);
    if (d._key === undefined) d._key = 'a' + ++this.auto;
    if (this.docs.has(d._key)) throw arangoError(1210, `unique constraint violated: ${this.name}/${d._key}`);
    d._id = this.name + '/' + d._key;
    this.journal.push(() => this.docs.delete(d._key));
    this.docs.set(d._key, d);
  }
  update(key, fields, options) {
    const d = this.docs.get(String(key));
    if (!d) throw arangoError(1202, 'document not found');
    assert(options === undefined || options.mergeObjects === false || key === 'counters', 'updates replace objects');
    const before = clone(d);
    this.journal.push(() => this.docs.set(String(key), before));
    Object.assign(d, clone(fields));
  }
  all() {
    return [...this.docs.values()].map(clone);
  }
  // The documents themselves, for reads that change nothing (fast).
  values() {
    return [...this.docs.values()];
  }
}

const NAMES = ['meta', 'tasks', 'task_names', 'elves', 'runs', 'jobs', 'deps', 'results', 'failures', 'events', 'leaders'];

// A database; with `populated`, every collection and the counters exist.
function database(populated) {
  const journal = [];
  const cols = {};
  const db = {
    cols,
    journal,
    _collection: (n) => cols[n] || null,
    create: (n) => {
      if (cols[n]) return false;
      cols[n] = new Collection(n, journal);
      return true;
    },
    // Runs f as a transaction: all of its writes, or none.
    atomically: (f) => {
      journal.length = 0;
      try {
        return f();
      } catch (e) {
        while (journal.length > 0) journal.pop()();
        throw e;
      } finally {
        journal.length = 0;
      }
    },
  };
  if (populated) {
    NAMES.forEach(db.create);
    cols.meta.insert({ _key: 'counters', seq: 0, job: 0, run: 0, failure: 0 });
  }
  return db;
}

const byId = (a, b) => a.id - b.id;

// The named queries of actions.js, over `db`.
function queries(db, QUERIES) {
  const c = db.cols;
  const impl = {
    consumers: (b) =>
      [...new Set(c.deps.values().filter((d) => d._from === b.from).map((d) => d.consumer))].sort((x, y) => x - y),
    downstream: (b) => {
      const seen = new Set([b.start]);
      const out = [];
      let frontier = [b.start];
      while (frontier.length > 0) {
        const next = [];
        for (const from of frontier) {
          for (const d of c.deps.values().filter((d) => d._from === from)) {
            if (seen.has(d._to)) continue;
            seen.add(d._to);
            next.push(d._to);
            const v = c.jobs.docs.get(d._to.split('/')[1]);
            if (v) out.push(v.id);
          }
        }
        frontier = next;
      }
      return out;
    },
    held: (b) =>
      c.jobs.values().filter((j) => j.holder === b.holder && j.state === 'claimed').sort(byId)
        .map((j) => ({ job: j.id, epoch: j.epoch })),
    expired: (b) =>
      c.jobs.values().filter((j) => j.lease_until != null && j.lease_until < b.now && j.state === 'claimed')
        .sort((x, y) => x.lease_until - y.lease_until).slice(0, 1000)
        .map((j) => ({ job: j.id, epoch: j.epoch, holder: j.holder, until: j.lease_until })),
    lost_elves: (b) =>
      c.elves.values().filter((e) => e.state === 'running' && e.lease_until < b.now)
        .sort((x, y) => (x.instance < y.instance ? -1 : 1)).map((e) => ({ key: e._key, instance: e.instance })),
    elf: (b) => c.elves.values().filter((e) => e.instance === b.instance).slice(0, 1),
    open_jobs: (b) =>
      c.jobs.values().filter((j) => j.run === b.run && ['pending', 'ready', 'claimed'].includes(j.state)).sort(byId)
        .map((j) => j.id),
    run_by_idem: (b) => c.runs.values().filter((r) => r.idem_key === b.key).slice(0, 1).map((r) => r.id),
    run_jobs: (b) => c.jobs.values().filter((j) => j.run === b.run).sort(byId).map((j) => j.id),
    task_name: (b) =>
      c.task_names.values().filter((n) => n.elf === b.elf && n.task === b.task && n.sha === b.sha).slice(0, 1)
        .map((n) => n._key),
    leader: (b) => c.leaders.values().filter((l) => l.role === b.role).slice(0, 1),
    retry_downstream: (b) =>
      [...new Set(c.deps.values().filter((d) => d._from === b.from).map((d) => c.jobs.docs.get(String(d.consumer)))
        .filter((j) => j && ['upstream_failed', 'cancelled'].includes(j.state)).map((j) => j.id))].sort((x, y) => x - y),
  };
  assert.deepStrictEqual(Object.keys(impl).sort(), Object.keys(QUERIES).sort(), 'every query has a stand-in');
  return (name, binds) => {
    for (const v of QUERIES[name].match(/@[a-z_]+/g) || []) {
      assert(binds[v.slice(1)] !== undefined, `query ${name} is missing ${v}`);
    }
    return impl[name](binds);
  };
}

module.exports = { clone, arangoError, loadActions, Collection, database, queries, byId };
