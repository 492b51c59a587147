// Transactions: snapshot reads, buffered writes made visible at commit,
// write-write conflicts, unique indexes, schemas and collection locks.
//
// Every operation runs in a transaction: a Stream Transaction the client
// began (POST /_api/transaction/begin), or an implicit one around a single
// AQL query or document request. Semantics follow the RocksDB engine
// (https://docs.arangodb.com/3.11/develop/transactions/locking-and-isolation/):
//   * snapshot isolation: reads see the database as of the transaction's
//     start (after its locks were granted) plus its own writes;
//   * two transactions writing the same document, or the same unique index
//     entry, conflict: error 1200 (HTTP 409). ArangoDB waits up to
//     --rocksdb.transaction-lock-timeout (1 s) for the other writer's row
//     lock before reporting it; the stand-in reports it at once;
//   * a write-write conflict aborts a Stream Transaction (the stand-in's
//     choice: the client must retry the whole transaction);
//   * "write" collections are locked shared, "exclusive" ones exclusively,
//     with waits bounded by lockTimeout (error 18); reads never lock.
// Stream Transaction lifecycle (arangod/Transaction/Manager.cpp): commit and
// abort are idempotent; committing an aborted (or expired) one is 1653; an
// unknown or finished id used for an operation is 1655 (HTTP 404); idle ones
// expire after --transaction.streaming-idle-timeout (60 s by default); a
// request using a transaction another request is using waits up to
// --transaction.streaming-lock-timeout, then fails with 28.
'use strict';

const V = require('../aql/values');
const draft4 = require('../schema/draft4');
const { withMessage, arangoError } = require('../errors');
const { acquireAll } = require('./locks');
const { checkKey, parseId, newRev } = require('./keys');
const { SortedEntries } = require('./sorted');

const sortedCompare = SortedEntries.compare;

const SYSTEM = ['_key', '_id', '_rev'];

function isObj(v) {
  return V.typeOf(v) === 'object';
}

function stripNulls(v) {
  if (!isObj(v)) return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = stripNulls(x);
  return out;
}

function mergePatch(old, patch, keepNull, mergeObjects, top) {
  const out = Object.assign({}, old);
  for (const [k, v] of Object.entries(patch)) {
    if (top && SYSTEM.includes(k)) continue;
    if (v === null && !keepNull) {
      delete out[k];
    } else if (mergeObjects && isObj(v) && isObj(out[k])) {
      out[k] = mergePatch(out[k], v, keepNull, mergeObjects, false);
    } else {
      out[k] = keepNull ? v : stripNulls(v);
    }
  }
  return out;
}

function userAttributes(doc) {
  const out = {};
  for (const [k, v] of Object.entries(doc)) if (!SYSTEM.includes(k) && v !== undefined) out[k] = v;
  return out;
}

let nextTrxId = 100000;

class Transaction {
  constructor(store, db, kind, spec) {
    this.id = String((nextTrxId += 3));
    this.store = store;
    this.db = db;
    this.kind = kind; // 'stream' | 'query' | 'document'
    this.status = 'created';
    this.snapshot = null;
    this.writes = new Map(); // collection -> Map(key -> doc|null)
    this.pending = new Map(); // collection -> Map(indexId -> Map(entry -> key))
    this.journal = [];
    this.locks = [];
    this.size = 0;
    this.maxSize = spec.maxTransactionSize > 0 ? spec.maxTransactionSize : Infinity;
    this.write = new Set(spec.write || []);
    this.exclusive = new Set(spec.exclusive || []);
    this.read = new Set(spec.read || []);
    this.allowImplicit = spec.allowImplicit !== false;
    this.traversalKnown = null; // Set of collections known to traversals of the running query, or null (no rule)
    this.expired = false;
  }

  /** Takes the collection locks (waiting up to `timeoutMs`), then the snapshot. */
  async begin(timeoutMs) {
    const wanted = [];
    for (const n of this.exclusive) wanted.push({ lock: this.db.collection(n).lock, mode: 'exclusive' });
    for (const n of this.write) if (!this.exclusive.has(n)) wanted.push({ lock: this.db.collection(n).lock, mode: 'write' });
    for (const n of this.read) this.db.collection(n);
    this.locks = await acquireAll(this, wanted, timeoutMs);
    this.snapshot = this.store.seq;
    this.status = 'running';
    this.store.active.add(this);
  }

  running() {
    return this.status === 'running';
  }

  // ---- access checks ----

  checkRead(name) {
    const c = this.db.collection(name);
    if (this.kind === 'stream' && !this.allowImplicit && !this.read.has(name) && !this.write.has(name) && !this.exclusive.has(name)) {
      throw withMessage(1652, `unregistered collection used in transaction: '${name}' was not declared and allowImplicit is false`);
    }
    return c;
  }

  checkWrite(name) {
    const c = this.db.collection(name);
    if (!this.write.has(name) && !this.exclusive.has(name)) {
      throw withMessage(1652, `unregistered collection used in transaction: '${name}' is written but was not declared `
        + 'for write or exclusive access');
    }
    return c;
  }

  // ---- reads (the data access interface of the AQL evaluator) ----

  collection(name) {
    const c = this.db.collection(name);
    return { name: c.name, type: c.type };
  }

  get(c, key) {
    const w = this.writes.get(c.name);
    if (w && w.has(key)) return w.get(key);
    return c.visible(key, this.snapshot);
  }

  document(name, key) {
    const c = this.checkRead(name);
    return this.get(c, key);
  }

  scan(name) {
    const c = this.checkRead(name);
    const w = this.writes.get(name);
    const out = [];
    for (const key of c.versions.keys()) {
      const d = w && w.has(key) ? w.get(key) : c.visible(key, this.snapshot);
      if (d) out.push(d);
    }
    if (w) for (const [key, d] of w) if (d && !c.versions.has(key)) out.push(d);
    return out;
  }

  count(name) {
    return this.scan(name).length;
  }

  /**
   * The keys of documents of `name` that may have `attribute` equal to one
   * of `values` in this transaction's view (a superset: the caller filters
   * again), or null when the attribute cannot be looked up.
   */
  candidates(name, attribute, values) {
    const c = this.checkRead(name);
    let keys;
    if (attribute === '_key') keys = new Set(values.filter((v) => typeof v === 'string'));
    else if (attribute === '_id') {
      keys = new Set(values.filter((v) => typeof v === 'string' && v.startsWith(`${name}/`)).map((v) => v.slice(name.length + 1)));
    } else keys = c.keysWithValues(attribute, values);
    const w = this.writes.get(name);
    if (w) for (const key of w.keys()) keys.add(key);
    return keys;
  }

  /**
   * The documents of `name` this transaction sees whose attributes `equal`
   * (a Map of attribute to value) hold, in the order of `sortAttributes`
   * (descending when asked), read from a persistent index whose fields are
   * the equal attributes (in any order) followed by the sort attributes, as
   * arangod's IndexNode reads it; null when no index fits. A generator: the
   * caller stops when it has what it needs.
   */
  sortedScan(name, equal, sortAttributes, descending, bounds) {
    const c = this.checkRead(name);
    for (const idx of c.indexes) {
      if (idx.type !== 'persistent' || idx.sparse) continue;
      const f = idx.fields;
      let p = 0;
      while (p < f.length && equal.has(f[p])) p++;
      if (p + sortAttributes.length > f.length || !sortAttributes.every((a, i) => f[p + i] === a)) continue;
      return this.walk(c, idx, f.slice(0, p).map((a) => equal.get(a)), descending, bounds || []);
    }
    return null;
  }

  *walk(c, idx, prefix, descending, bounds) {
    const sorted = c.sortedEntries(idx);
    // Whether a value of the first walked field is past the bounds in the
    // walking direction (every later entry is then past them too).
    const past = (v) => bounds.some((b) => {
      const cmp = V.compare(v, b.value);
      if (!descending) return (b.op === '<' && cmp >= 0) || (b.op === '<=' && cmp > 0);
      return (b.op === '>' && cmp <= 0) || (b.op === '>=' && cmp < 0);
    });
    const own = this.writes.get(c.name);
    const matches = (t) => prefix.every((v, i) => V.compare(t[i], v) === 0);
    // This transaction's own writes are not in the index yet: merged in.
    const mine = [];
    if (own) {
      for (const [key, doc] of own) {
        const t = doc ? sorted.tuple(doc) : null;
        if (t && matches(t)) mine.push({ values: t, key, doc });
      }
    }
    const order = (a, b) => (descending ? -1 : 1) * sortedCompare(a, b);
    mine.sort(order);
    let j = 0;
    for (const e of sorted.range(prefix, descending)) {
      if (past(e.values[prefix.length])) break;
      if (own && own.has(e.key)) continue;
      const doc = c.visible(e.key, this.snapshot);
      // An entry of another version of the document: it is met at its own.
      const t = doc ? sorted.tuple(doc) : null;
      if (!t || V.hashKey(t) !== e.hash) continue;
      while (j < mine.length && order(mine[j], e) < 0) yield mine[j++].doc;
      yield doc;
    }
    while (j < mine.length) yield mine[j++].doc;
  }

  /** The documents of `name` with these keys, as this transaction sees them. */
  scanKeys(name, keys) {
    const c = this.checkRead(name);
    const out = [];
    for (const key of keys) {
      const d = this.get(c, key);
      if (d) out.push(d);
    }
    return out;
  }

  edges(name, vertexId, direction) {
    const c = this.checkRead(name);
    if (c.type !== 3) throw withMessage(1237, `collection type mismatch: '${name}' is not an edge collection`);
    const attr = direction === 'out' ? '_from' : '_to';
    return this.scan(name).filter((e) => e[attr] === vertexId);
  }

  graph(name) {
    const g = this.db.graph(name);
    if (this.traversalKnown) {
      for (const d of g.edgeDefinitions) for (const n of [d.collection, ...d.from, ...d.to]) this.traversalKnown.add(n);
      for (const n of g.orphanCollections) this.traversalKnown.add(n);
    }
    return g;
  }

  knownToTraversal(name) {
    return this.traversalKnown === null || this.traversalKnown.has(name);
  }

  // ---- writes ----

  savepoint() {
    return { journal: this.journal.length, size: this.size };
  }

  rollback(sp) {
    while (this.journal.length > sp.journal) {
      const j = this.journal.pop();
      const m = j.map;
      if (j.had) m.set(j.key, j.prev);
      else m.delete(j.key);
    }
    this.size = sp.size;
  }

  setIn(map, key, value) {
    this.journal.push({ map, key, had: map.has(key), prev: map.get(key) });
    map.set(key, value);
  }

  deleteIn(map, key) {
    if (!map.has(key)) return;
    this.journal.push({ map, key, had: true, prev: map.get(key) });
    map.delete(key);
  }

  conflict(c, key, why) {
    return withMessage(1200, `conflict: write-write conflict on document '${c.name}/${key}' (${why})`);
  }

  uniqueViolation(c, idx, key) {
    const kind = idx.type === 'primary' ? 'primary' : idx.type;
    return withMessage(1210, `unique constraint violated - in index ${idx.name} of type ${kind} over '${idx.fields.join(', ')}'; `
      + `conflicting key: ${key}`, { conflictingKey: key });
  }

  /** Stages `newDoc` (null: removal) for `key`, replacing `oldDoc`, after every check. */
  stage(c, key, newDoc, oldDoc) {
    for (const t of this.store.active) {
      // Documents of another database are other documents, whatever the
      // collection's name.
      if (t === this || t.db !== this.db || !t.running()) continue;
      const w = t.writes.get(c.name);
      if (w && w.has(key)) throw this.conflict(c, key, `transaction ${t.kind === 'stream' ? t.id : '(implicit)'} holds an uncommitted write to it`);
    }
    const latest = c.latest(key);
    if (latest && latest.seq > this.snapshot) throw this.conflict(c, key, 'it was committed by another transaction after this one started');
    for (const idx of c.indexes) {
      if (!idx.unique || idx.type === 'primary') continue;
      const entry = idx.entry(newDoc);
      if (entry === null || entry === idx.entry(oldDoc)) continue;
      const own = this.pending.get(c.name);
      const ownKey = own && own.get(idx.id) ? own.get(idx.id).get(entry) : undefined;
      if (ownKey !== undefined && ownKey !== key) throw this.uniqueViolation(c, idx, ownKey);
      const holder = idx.committed.get(entry);
      if (holder !== undefined && holder !== key) {
        const w = this.writes.get(c.name);
        if (!(w && w.has(holder))) {
          const hv = c.latest(holder);
          if (hv && hv.seq > this.snapshot) throw this.conflict(c, holder, `another transaction committed the same value for unique index ${idx.name}`);
          throw this.uniqueViolation(c, idx, holder);
        }
      }
      for (const t of this.store.active) {
        if (t === this || t.db !== this.db || !t.running()) continue;
        const p = t.pending.get(c.name);
        const k = p && p.get(idx.id) ? p.get(idx.id).get(entry) : undefined;
        if (k !== undefined && k !== key) throw this.conflict(c, k, `another transaction holds an uncommitted entry of unique index ${idx.name}`);
      }
    }
    if (newDoc) {
      this.size += Buffer.byteLength(JSON.stringify(newDoc));
      if (this.size > this.maxSize) {
        throw withMessage(32, `resource limit exceeded: maximal transaction size limit of ${this.maxSize} bytes reached`);
      }
    }
    let w = this.writes.get(c.name);
    if (!w) {
      w = new Map();
      this.writes.set(c.name, w);
    }
    this.setIn(w, key, newDoc);
    let p = this.pending.get(c.name);
    if (!p) {
      p = new Map();
      this.pending.set(c.name, p);
    }
    for (const idx of c.indexes) {
      if (!idx.unique || idx.type === 'primary') continue;
      let m = p.get(idx.id);
      if (!m) {
        m = new Map();
        p.set(idx.id, m);
      }
      const oldEntry = idx.entry(oldDoc);
      if (oldEntry !== null && m.get(oldEntry) === key) this.deleteIn(m, oldEntry);
      const newEntry = idx.entry(newDoc);
      if (newEntry !== null) this.setIn(m, newEntry, key);
    }
  }

  validateSchema(c, doc, oldDoc, isInsert) {
    const s = c.schema;
    if (!s || s.level === 'none') return;
    if (!isInsert) {
      if (s.level === 'new') return;
      if (s.level === 'moderate' && oldDoc && !draft4.validate(s.rule, oldDoc).ok) return;
    }
    const r = draft4.validate(s.rule, doc);
    if (!r.ok) {
      this.store.log(`schema violation in '${c.name}': ${r.reason}`);
      throw withMessage(1620, s.message, { standinReason: r.reason });
    }
  }

  checkEdge(c, doc) {
    if (c.type !== 3) return;
    for (const a of ['_from', '_to']) {
      if (!parseId(doc[a])) throw withMessage(1233, `edge attribute missing or invalid: ${a} must be a document identifier, not ${JSON.stringify(doc[a])}`);
    }
  }

  build(c, key, attrs, rev) {
    const out = { _key: key, _id: `${c.name}/${key}` };
    if (c.type === 3) {
      out._from = attrs._from;
      out._to = attrs._to;
    }
    out._rev = rev;
    for (const [k, v] of Object.entries(attrs)) if (!(k in out) && v !== undefined) out[k] = v;
    return out;
  }

  checkRev(c, old, opts) {
    if (opts.ifMatch && old._rev !== opts.ifMatch) {
      throw withMessage(1200, 'conflict, _rev values do not match', { precondition: true, _rev: old._rev });
    }
  }

  insert(name, doc, opts) {
    const c = this.checkWrite(name);
    if (!isObj(doc)) throw arangoError(1227);
    let key;
    if (doc._key !== undefined && doc._key !== null) {
      if (c.keyOptions.allowUserKeys === false) throw withMessage(1222, 'unexpected document key');
      key = checkKey(doc._key);
    } else {
      key = c.generateKey();
    }
    const mode = opts.overwriteMode || (opts.overwrite ? 'replace' : 'conflict');
    const old = this.get(c, key);
    if (old) {
      if (mode === 'ignore') return { new: old, old: null, ignored: true };
      if (mode === 'replace') return this.replace(name, key, doc, opts);
      if (mode === 'update') return this.update(name, key, doc, opts);
      throw this.uniqueViolation(c, c.indexes[0], key);
    }
    const attrs = userAttributes(doc);
    const keepNull = opts.keepNull !== false;
    const newDoc = this.build(c, key, mode === 'update' && !keepNull ? stripNulls(attrs) : attrs, newRev());
    this.checkEdge(c, newDoc);
    this.validateSchema(c, newDoc, null, true);
    this.stage(c, key, newDoc, null);
    c.noteKey(key);
    return { new: newDoc, old: null };
  }

  update(name, key, patch, opts) {
    const c = this.checkWrite(name);
    checkKey(key);
    const old = this.get(c, key);
    if (!old) throw withMessage(1202, `document not found: ${name}/${key}`);
    this.checkRev(c, old, opts);
    const merged = mergePatch(old, patch, opts.keepNull !== false, opts.mergeObjects !== false, true);
    const newDoc = this.build(c, key, userAttributes(merged), newRev());
    this.checkEdge(c, newDoc);
    this.validateSchema(c, newDoc, old, false);
    this.stage(c, key, newDoc, old);
    return { new: newDoc, old };
  }

  replace(name, key, doc, opts) {
    const c = this.checkWrite(name);
    checkKey(key);
    const old = this.get(c, key);
    if (!old) throw withMessage(1202, `document not found: ${name}/${key}`);
    this.checkRev(c, old, opts);
    const newDoc = this.build(c, key, userAttributes(doc), newRev());
    this.checkEdge(c, newDoc);
    this.validateSchema(c, newDoc, old, false);
    this.stage(c, key, newDoc, old);
    return { new: newDoc, old };
  }

  remove(name, key, opts) {
    const c = this.checkWrite(name);
    checkKey(key);
    const old = this.get(c, key);
    if (!old) throw withMessage(1202, `document not found: ${name}/${key}`);
    this.checkRev(c, old, opts || {});
    this.stage(c, key, null, old);
    return { old };
  }

  // ---- end ----

  commit() {
    if (!this.running()) throw withMessage(1650, `transaction ${this.id} is not running`);
    const dirty = [...this.writes.values()].some((m) => m.size > 0);
    if (dirty) {
      const seq = ++this.store.seq;
      for (const [name, m] of this.writes) {
        const c = this.db.collections.get(name);
        if (!c) continue;
        for (const [key, doc] of m) c.commitVersion(key, doc, seq);
      }
    }
    this.finish('committed');
    if (dirty) {
      const min = this.store.minSnapshot();
      for (const name of this.writes.keys()) {
        const c = this.db.collections.get(name);
        if (c) c.prune(min);
      }
    }
  }

  abort() {
    if (this.status === 'running' || this.status === 'created') this.finish('aborted');
  }

  finish(status) {
    this.status = status;
    this.store.active.delete(this);
    for (const l of this.locks) l.release(this);
    this.locks = [];
    this.writes = new Map();
    this.pending = new Map();
    this.journal = [];
  }
}

/** The running Stream Transactions of a server and the tombstones of finished ones. */
class TransactionManager {
  constructor(store, options) {
    this.store = store;
    this.options = options;
    this.trxs = new Map(); // id -> { trx, db, expiresAt, queue: Promise, users }
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(1000, options.idleTimeoutMs / 4)));
    this.timer.unref();
  }

  stop() {
    clearInterval(this.timer);
  }

  async begin(db, body) {
    if (!body || typeof body !== 'object' || !body.collections || typeof body.collections !== 'object') {
      throw withMessage(10, 'missing or malformed transaction specification: collections must be an object');
    }
    if (body.action !== undefined) throw withMessage(10, 'Stream Transactions take no action attribute');
    const list = (v, what) => {
      if (v === undefined || v === null) return [];
      const a = Array.isArray(v) ? v : [v];
      if (!a.every((x) => typeof x === 'string')) throw withMessage(10, `collections.${what} must be a name or an array of names`);
      return a;
    };
    const spec = {
      read: list(body.collections.read, 'read'),
      write: list(body.collections.write, 'write'),
      exclusive: list(body.collections.exclusive, 'exclusive'),
      allowImplicit: body.collections.allowImplicit !== false && body.allowImplicit !== false,
      maxTransactionSize: typeof body.maxTransactionSize === 'number' ? body.maxTransactionSize : 0,
    };
    for (const n of [...spec.read, ...spec.write, ...spec.exclusive]) db.collection(n);
    const seconds = typeof body.lockTimeout === 'number' ? body.lockTimeout : this.options.defaultLockTimeoutS;
    const trx = new Transaction(this.store, db, 'stream', spec);
    await trx.begin(seconds > 0 ? seconds * 1000 : 0);
    this.trxs.set(trx.id, { trx, db: db.name, expiresAt: Date.now() + this.options.idleTimeoutMs, queue: Promise.resolve(), users: 0 });
    return trx;
  }

  entry(id, dbName) {
    const e = this.trxs.get(String(id));
    if (!e || e.db !== dbName) throw withMessage(1655, `transaction '${id}' not found`);
    return e;
  }

  /** The running transaction `id`, leased for one request: `release()` when done. */
  async lease(id, dbName) {
    const e = this.entry(id, dbName);
    if (!e.trx.running()) throw withMessage(1655, `transaction '${id}' not found (it was ${e.trx.expired ? 'expired' : e.trx.status})`);
    const previous = e.queue;
    let release;
    const mine = new Promise((r) => {
      release = r;
    });
    e.queue = previous.then(() => mine);
    e.users++;
    let timer;
    const waited = await Promise.race([
      previous.then(() => true),
      new Promise((r) => {
        timer = setTimeout(() => r(false), this.options.streamingLockTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    const done = () => {
      e.users--;
      e.expiresAt = Date.now() + this.options.idleTimeoutMs;
      release();
    };
    if (!waited) {
      done();
      throw withMessage(28, `locked: transaction '${id}' is in use by another request`);
    }
    if (!e.trx.running()) {
      done();
      throw withMessage(1655, `transaction '${id}' not found (it was ${e.trx.expired ? 'expired' : e.trx.status})`);
    }
    return { trx: e.trx, release: done };
  }

  async finish(id, dbName, status) {
    const e = this.entry(id, dbName);
    const t = e.trx;
    const verb = status === 'committed' ? 'commit' : 'abort';
    if (t.status === status) return t;
    if (!t.running()) {
      throw withMessage(1653, `disallowed operation inside transaction: while trying to ${verb} transaction ${id}: `
        + `transaction was already ${t.expired ? 'expired' : t.status}`);
    }
    const { release } = await this.lease(id, dbName);
    try {
      if (status === 'committed') t.commit();
      else t.abort();
    } finally {
      release();
    }
    return t;
  }

  /** Aborts a transaction after a write-write conflict. */
  abortAfterConflict(trx) {
    if (trx.running()) trx.abort();
  }

  list(dbName) {
    return [...this.trxs.entries()].filter(([, e]) => e.db === dbName && e.trx.running()).map(([id, e]) => ({ id, state: e.trx.status }));
  }

  sweep() {
    const now = Date.now();
    for (const [id, e] of this.trxs) {
      if (e.trx.running() && e.users === 0 && e.expiresAt < now) {
        e.trx.expired = true;
        e.trx.abort();
        this.store.log(`stream transaction ${id} expired after ${this.options.idleTimeoutMs} ms idle and was aborted`);
      }
      if (!e.trx.running() && e.expiresAt + this.options.tombstoneMs < now) this.trxs.delete(id);
    }
  }
}

module.exports = { Transaction, TransactionManager, mergePatch };
