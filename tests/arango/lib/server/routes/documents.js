// Single and multiple document operations
// (https://docs.arangodb.com/3.11/develop/http-api/documents/): one document
// (an object body) or many (an array body: each element succeeds or fails on
// its own, failures reported in place and counted in x-arango-error-codes).
// Query options: returnNew, returnOld, silent, overwrite, overwriteMode
// (ignore | replace | update | conflict), keepNull, mergeObjects, ignoreRevs,
// waitForSync. Writes answer 201 with waitForSync, 202 otherwise.
'use strict';

const { json, inTransaction } = require('../respond');
const { withMessage, ArangoError } = require('../../errors');

function flag(q, name, dflt) {
  const v = q.get(name);
  if (v === null) return dflt;
  return v === 'true' || v === '1' || v === '';
}

function options(ctx) {
  const q = ctx.query;
  return {
    returnNew: flag(q, 'returnNew', false),
    returnOld: flag(q, 'returnOld', false),
    silent: flag(q, 'silent', false),
    overwrite: flag(q, 'overwrite', false),
    overwriteMode: q.get('overwriteMode') || undefined,
    keepNull: flag(q, 'keepNull', true),
    mergeObjects: flag(q, 'mergeObjects', true),
    ignoreRevs: flag(q, 'ignoreRevs', true),
    waitForSync: flag(q, 'waitForSync', false),
  };
}

function meta(r, opts) {
  const doc = r.new || r.old;
  const out = { _id: doc._id, _key: doc._key, _rev: doc._rev };
  if (r.new && r.old) out._oldRev = r.old._rev;
  if (opts.returnNew && r.new) out.new = r.new;
  if (opts.returnOld && r.old) out.old = r.old;
  return out;
}

function status(c, opts) {
  return opts.waitForSync || c.waitForSync ? 201 : 202;
}

function itemError(e) {
  if (!(e instanceof ArangoError)) throw e;
  return { error: true, errorNum: e.errorNum, errorMessage: e.message };
}

/** Runs `one(trx, item)` per element of an array body, each with its own savepoint. */
function many(trx, items, one, counts, server) {
  return items.map((item) => {
    const sp = trx.savepoint();
    try {
      return one(item);
    } catch (e) {
      trx.rollback(sp);
      const err = itemError(e);
      server.count(e);
      counts[err.errorNum] = (counts[err.errorNum] || 0) + 1;
      return err;
    }
  });
}

function answer(c, opts, out, counts) {
  const headers = Object.keys(counts).length ? { 'x-arango-error-codes': JSON.stringify(counts) } : undefined;
  if (opts.silent && !Array.isArray(out)) return json(status(c, opts), {}, headers);
  return json(status(c, opts), out, headers);
}

function keyOf(item) {
  if (typeof item === 'string') return item.includes('/') ? item.slice(item.indexOf('/') + 1) : item;
  if (item && typeof item === 'object' && typeof item._key === 'string') return item._key;
  throw withMessage(1226, 'missing document key');
}

function revOption(ctx, opts, item) {
  const ifMatch = ctx.req.headers['if-match'];
  if (ifMatch) return Object.assign({}, opts, { ifMatch: ifMatch.replace(/"/g, '') });
  if (!opts.ignoreRevs && item && typeof item === 'object' && typeof item._rev === 'string') return Object.assign({}, opts, { ifMatch: item._rev });
  return opts;
}

const routes = [
  {
    method: 'POST',
    pattern: /^\/_api\/document\/([^/]+)$/,
    handler: async (ctx) => {
      const db = ctx.db();
      const c = db.collection(ctx.params[0]);
      const opts = options(ctx);
      const counts = {};
      const out = await inTransaction(ctx, db, { write: [c.name] }, (trx) => {
        const one = (doc) => {
          const r = trx.insert(c.name, doc, opts);
          return meta(r, opts);
        };
        if (Array.isArray(ctx.body)) return many(trx, ctx.body, one, counts, ctx.server);
        if (!ctx.body || typeof ctx.body !== 'object') throw withMessage(1227, 'invalid document type');
        return one(ctx.body);
      });
      return answer(c, opts, out, counts);
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/document\/([^/]+)\/([^/]+)$/,
    handler: async (ctx) => {
      const db = ctx.db();
      const c = db.collection(ctx.params[0]);
      const doc = await inTransaction(ctx, db, {}, (trx) => trx.document(c.name, ctx.params[1]));
      if (!doc) throw withMessage(1202, `document not found: ${c.name}/${ctx.params[1]}`);
      const ifMatch = ctx.req.headers['if-match'];
      if (ifMatch && ifMatch.replace(/"/g, '') !== doc._rev) throw withMessage(1200, 'conflict, _rev values do not match', { precondition: true, _rev: doc._rev });
      return json(200, doc, { etag: `"${doc._rev}"` });
    },
  },
  {
    method: 'PATCH',
    pattern: /^\/_api\/document\/([^/]+)(?:\/([^/]+))?$/,
    handler: (ctx) => write(ctx, 'update'),
  },
  {
    method: 'PUT',
    pattern: /^\/_api\/document\/([^/]+)(?:\/([^/]+))?$/,
    handler: (ctx) => write(ctx, 'replace'),
  },
  {
    method: 'DELETE',
    pattern: /^\/_api\/document\/([^/]+)(?:\/([^/]+))?$/,
    handler: (ctx) => write(ctx, 'remove'),
  },
];

async function write(ctx, op) {
  const db = ctx.db();
  const c = db.collection(ctx.params[0]);
  const opts = options(ctx);
  const single = ctx.params[1];
  const counts = {};
  const out = await inTransaction(ctx, db, { write: [c.name] }, (trx) => {
    const one = (key, item) => {
      const o = revOption(ctx, opts, item);
      let r;
      if (op === 'remove') r = trx.remove(c.name, key, o);
      else {
        if (!item || typeof item !== 'object' || Array.isArray(item)) throw withMessage(1227, 'invalid document type');
        r = op === 'update' ? trx.update(c.name, key, item, o) : trx.replace(c.name, key, item, o);
      }
      return meta(r, opts);
    };
    if (single !== undefined) return one(single, ctx.body);
    if (!Array.isArray(ctx.body)) throw withMessage(10, 'bad parameter: expecting an array of documents');
    return many(trx, ctx.body, (item) => one(keyOf(item), item), counts, ctx.server);
  });
  if (op === 'remove' && single !== undefined) return json(opts.waitForSync || c.waitForSync ? 200 : 202, out);
  return answer(c, opts, out, counts);
}

module.exports = { routes };
