// Databases, collections and their documents, kept as versions so that every
// transaction reads the snapshot it started with (the RocksDB engine gives
// snapshot isolation: https://docs.arangodb.com/3.11/develop/transactions/locking-and-isolation/).
//
// Each committed write gets the next commit sequence number; a document is a
// list of { seq, doc } versions (doc null once removed). A transaction with
// snapshot S sees, for each key, the newest version with seq <= S.
'use strict';

const { withMessage, arangoError } = require('../errors');
const { CollectionLock } = require('./locks');
const { primaryIndex, edgeIndex, userIndex } = require('./indexes');
const { validCollectionName, validDatabaseName } = require('./keys');
const draft4 = require('../schema/draft4');
const V = require('../aql/values');
const { SortedEntries } = require('./sorted');

let nextId = 1000;

function deepFreeze(v) {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

class Collection {
  constructor(db, body, log) {
    this.db = db;
    this.name = body.name;
    this.id = String(nextId++);
    this.type = body.type === 3 || body.type === 'edge' ? 3 : 2;
    this.waitForSync = body.waitForSync === true;
    this.keyOptions = Object.assign({ type: 'traditional', allowUserKeys: true }, body.keyOptions || {});
    this.versions = new Map(); // key -> [{ seq, doc }]
    this.indexes = [primaryIndex()];
    if (this.type === 3) this.indexes.push(edgeIndex());
    this.lock = new CollectionLock(this.name);
    this.lastKey = 0;
    this.schema = null;
    this.setSchema(body.schema, log);
  }

  /** Sets the `schema` property ({ rule, level, message } or null / {}). */
  setSchema(schema, log) {
    if (schema === undefined) return;
    if (schema === null || (typeof schema === 'object' && Object.keys(schema).length === 0)) {
      this.schema = null;
      return;
    }
    if (typeof schema !== 'object' || Array.isArray(schema)) throw withMessage(1621, 'invalid schema validation parameter: schema must be an object');
    const level = schema.level === undefined ? 'strict' : schema.level;
    if (!['none', 'new', 'moderate', 'strict'].includes(level)) {
      throw withMessage(1621, `invalid schema validation parameter: level must be none, new, moderate or strict, not ${JSON.stringify(level)}`);
    }
    if (schema.rule === undefined) throw withMessage(1621, 'invalid schema validation parameter: rule is missing');
    const { rule, ignored } = draft4.compile(schema.rule);
    if (ignored.length && log) {
      log(`collection '${this.name}': its schema uses keywords a draft-4 validator ignores: ${ignored.join(', ')}`);
    }
    this.schema = { rule, level, message: typeof schema.message === 'string' ? schema.message : 'Schema violation', type: 'json' };
  }

  /** The newest committed version of `key`, or null. */
  latest(key) {
    const vs = this.versions.get(key);
    return vs && vs.length ? vs[vs.length - 1] : null;
  }

  /** The document `key` as of snapshot `seq` (null if absent). */
  visible(key, seq) {
    const vs = this.versions.get(key);
    if (!vs) return null;
    for (let i = vs.length - 1; i >= 0; i--) if (vs[i].seq <= seq) return vs[i].doc;
    return null;
  }

  /**
   * The keys of every document some retained version of which has
   * `attribute` equal to one of `values`: what a lookup in an index on the
   * attribute would find, for any snapshot still readable. Maps are built
   * on first use and kept up to date as versions come and go.
   */
  keysWithValues(attribute, values) {
    if (!this.valueMaps) this.valueMaps = new Map();
    let m = this.valueMaps.get(attribute);
    if (!m) {
      m = { byValue: new Map(), byKey: new Map() };
      this.valueMaps.set(attribute, m);
      for (const key of this.versions.keys()) this.reindexValues(key, m, attribute);
    }
    const out = new Set();
    for (const v of values) {
      const keys = m.byValue.get(V.hashKey(v));
      if (keys) for (const k of keys) out.add(k);
    }
    return out;
  }

  /** The entries of persistent index `idx` in index order (built on first use). */
  sortedEntries(idx) {
    if (!this.sorted) this.sorted = new Map();
    let s = this.sorted.get(idx);
    if (!s) {
      s = new SortedEntries(idx);
      for (const [key, vs] of this.versions) s.reindex(key, vs.map((v) => v.doc));
      this.sorted.set(idx, s);
    }
    return s;
  }

  /** Brings the value maps up to date for `key` (one map, or all of them). */
  reindexValues(key, only, onlyAttribute) {
    if (this.sorted && !only) {
      const docs = (this.versions.get(key) || []).map((v) => v.doc);
      for (const s of this.sorted.values()) s.reindex(key, docs);
    }
    if (!this.valueMaps && !only) return;
    const maps = only ? [[onlyAttribute, only]] : [...this.valueMaps];
    const vs = this.versions.get(key) || [];
    for (const [attribute, m] of maps) {
      const now = new Set();
      for (const v of vs) {
        if (v.doc === null) continue;
        const x = Object.prototype.hasOwnProperty.call(v.doc, attribute) ? v.doc[attribute] : null;
        now.add(V.hashKey(x === undefined ? null : x));
      }
      const before = m.byKey.get(key) || new Set();
      for (const h of before) {
        if (now.has(h)) continue;
        const set = m.byValue.get(h);
        if (set) {
          set.delete(key);
          if (set.size === 0) m.byValue.delete(h);
        }
      }
      for (const h of now) {
        if (before.has(h)) continue;
        let set = m.byValue.get(h);
        if (!set) {
          set = new Set();
          m.byValue.set(h, set);
        }
        set.add(key);
      }
      if (now.size) m.byKey.set(key, now);
      else m.byKey.delete(key);
    }
  }

  /** Appends a committed version (frozen: documents handed out are never mutated). */
  commitVersion(key, doc, seq) {
    let vs = this.versions.get(key);
    if (!vs) {
      vs = [];
      this.versions.set(key, vs);
    }
    const before = vs.length ? vs[vs.length - 1].doc : null;
    for (const idx of this.indexes) {
      if (!idx.committed) continue;
      const oldEntry = idx.entry(before);
      if (oldEntry !== null && idx.committed.get(oldEntry) === key) idx.committed.delete(oldEntry);
      const newEntry = idx.entry(doc);
      if (newEntry !== null) idx.committed.set(newEntry, key);
    }
    vs.push({ seq, doc: doc === null ? null : deepFreeze(doc) });
    this.reindexValues(key);
  }

  /** Drops versions no running transaction can see any more. */
  prune(minSnapshot) {
    for (const [key, vs] of this.versions) {
      let keep = 0;
      for (let i = vs.length - 1; i >= 0; i--) {
        if (vs[i].seq <= minSnapshot) {
          keep = i;
          break;
        }
      }
      const before = vs.length;
      if (keep > 0) vs.splice(0, keep);
      if (vs.length === 1 && vs[0].doc === null && vs[0].seq <= minSnapshot) this.versions.delete(key);
      if (vs.length !== before || !this.versions.has(key)) this.reindexValues(key);
    }
  }

  /** The next generated key ("traditional" key generator: increasing numbers). */
  generateKey() {
    this.lastKey += 1;
    let k = String(this.lastKey);
    while (this.versions.has(k)) {
      this.lastKey += 1;
      k = String(this.lastKey);
    }
    return k;
  }

  noteKey(key) {
    if (/^\d+$/.test(key) && Number(key) > this.lastKey && Number(key) < Number.MAX_SAFE_INTEGER) this.lastKey = Number(key);
  }

  index(idOrName) {
    return this.indexes.find((i) => i.id === idOrName || i.name === idOrName || `${this.name}/${i.id}` === idOrName) || null;
  }

  /** Adds a user index; throws 1210 if existing documents break a new unique index. */
  addIndex(body, seq) {
    const idx = userIndex(body);
    const same = this.indexes.find((i) => i.sameAs(idx));
    if (same) return { index: same, created: false };
    if (this.indexes.some((i) => i.name === idx.name)) {
      throw withMessage(1207, `duplicate name: an index named '${idx.name}' already exists with another definition`);
    }
    if (idx.unique) {
      for (const [key, vs] of this.versions) {
        const doc = vs[vs.length - 1].doc;
        const e = idx.entry(doc);
        if (e === null) continue;
        if (idx.committed.has(e)) {
          throw withMessage(1210, `unique constraint violated - in index ${idx.name} of type persistent over '${idx.fields.join(', ')}'; `
            + `conflicting key: ${key}`);
        }
        idx.committed.set(e, key);
      }
    }
    this.indexes.push(idx);
    return { index: idx, created: true, seq };
  }

  describe() {
    return {
      id: this.id, name: this.name, type: this.type, status: 3, isSystem: this.name.startsWith('_'),
      globallyUniqueId: `h${this.id}`, waitForSync: this.waitForSync, keyOptions: this.keyOptions,
      schema: this.schema ? { rule: this.schema.rule, level: this.schema.level, message: this.schema.message, type: 'json' } : null,
      error: false, code: 200,
    };
  }
}

class Database {
  constructor(name, options) {
    this.name = name;
    this.id = String(nextId++);
    this.options = options || {};
    this.collections = new Map();
    this.graphs = new Map();
  }

  collection(name) {
    const c = this.collections.get(name);
    if (!c) throw withMessage(1203, `collection or view not found: ${name}`);
    return c;
  }

  createCollection(body, log) {
    if (!body || typeof body !== 'object') throw withMessage(10, 'expecting a JSON object describing the collection');
    if (!validCollectionName(body.name)) throw withMessage(1208, `illegal name: ${JSON.stringify(body.name)}`);
    if (this.collections.has(body.name)) throw withMessage(1207, `duplicate name: ${body.name}`);
    const c = new Collection(this, body, log);
    this.collections.set(c.name, c);
    return c;
  }

  dropCollection(name) {
    this.collection(name);
    this.collections.delete(name);
  }

  createGraph(body) {
    if (!body || typeof body.name !== 'string' || !body.name) throw withMessage(1922, 'missing graph name');
    if (this.graphs.has(body.name)) throw arangoError(1925);
    const defs = body.edgeDefinitions || [];
    if (!Array.isArray(defs)) throw arangoError(1923);
    for (const d of defs) {
      if (!d || typeof d.collection !== 'string' || !Array.isArray(d.from) || !Array.isArray(d.to)) throw arangoError(1923);
    }
    const log = () => {};
    for (const d of defs) {
      if (!this.collections.has(d.collection)) this.createCollection({ name: d.collection, type: 3 }, log);
      else if (this.collections.get(d.collection).type !== 3) throw withMessage(1944, 'edge definition collection is a document collection');
      for (const v of [...d.from, ...d.to]) if (!this.collections.has(v)) this.createCollection({ name: v, type: 2 }, log);
    }
    for (const v of body.orphanCollections || []) if (!this.collections.has(v)) this.createCollection({ name: v, type: 2 }, log);
    const g = {
      name: body.name, _key: body.name, _id: `_graphs/${body.name}`, edgeDefinitions: defs.map((d) => ({ collection: d.collection, from: d.from.slice(), to: d.to.slice() })),
      orphanCollections: (body.orphanCollections || []).slice(),
    };
    this.graphs.set(g.name, g);
    return g;
  }

  graph(name) {
    const g = this.graphs.get(name);
    if (!g) throw arangoError(1924, name);
    return g;
  }
}

/** Every database of the server, and the commit sequence. */
class Store {
  constructor(options) {
    this.options = options || {};
    this.databases = new Map();
    this.seq = 0;
    this.active = new Set(); // running transactions (stream and implicit)
    this.log = this.options.log || (() => {});
    this.databases.set('_system', new Database('_system'));
  }

  database(name) {
    const db = this.databases.get(name);
    if (!db) throw withMessage(1228, `database not found: ${name}`);
    return db;
  }

  createDatabase(body) {
    const name = body && body.name;
    if (!validDatabaseName(name) || name === '_system') throw withMessage(1229, `database name invalid: ${JSON.stringify(name)}`);
    if (this.databases.has(name)) throw withMessage(1207, `duplicate database name '${name}'`);
    const db = new Database(name, body.options);
    this.databases.set(name, db);
    return db;
  }

  dropDatabase(name) {
    if (name === '_system') throw withMessage(1230, 'the _system database cannot be dropped');
    if (!this.databases.delete(name)) throw withMessage(1228, `database not found: ${name}`);
  }

  /** The oldest snapshot a running transaction still reads. */
  minSnapshot() {
    let min = this.seq;
    for (const t of this.active) if (t.snapshot < min) min = t.snapshot;
    return min;
  }
}

module.exports = { Store, Database, Collection, deepFreeze };
