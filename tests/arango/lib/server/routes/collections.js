// Collections, indexes and named graphs
// (https://docs.arangodb.com/3.11/develop/http-api/collections/,
// .../indexes/, .../graphs/named-graphs/).
'use strict';

const { json, inTransaction } = require('../respond');
const { withMessage } = require('../../errors');

const routes = [
  {
    method: 'GET',
    pattern: /^\/_api\/collection$/,
    handler: (ctx) => json(200, { error: false, code: 200, result: [...ctx.db().collections.values()].map((c) => c.describe()) }),
  },
  {
    method: 'POST',
    pattern: /^\/_api\/collection$/,
    handler: (ctx) => json(200, ctx.db().createCollection(ctx.body || {}, ctx.server.log).describe()),
  },
  {
    method: 'GET',
    pattern: /^\/_api\/collection\/([^/]+)(?:\/properties)?$/,
    handler: (ctx) => json(200, ctx.db().collection(ctx.params[0]).describe()),
  },
  {
    method: 'PUT',
    pattern: /^\/_api\/collection\/([^/]+)\/properties$/,
    handler: (ctx) => {
      const c = ctx.db().collection(ctx.params[0]);
      const b = ctx.body || {};
      if (b.schema !== undefined) c.setSchema(b.schema, ctx.server.log);
      if (typeof b.waitForSync === 'boolean') c.waitForSync = b.waitForSync;
      return json(200, c.describe());
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/collection\/([^/]+)\/count$/,
    handler: async (ctx) => {
      const db = ctx.db();
      const c = db.collection(ctx.params[0]);
      const count = await inTransaction(ctx, db, {}, (trx) => trx.count(c.name));
      return json(200, Object.assign(c.describe(), { count }));
    },
  },
  {
    method: 'PUT',
    pattern: /^\/_api\/collection\/([^/]+)\/truncate$/,
    handler: async (ctx) => {
      const db = ctx.db();
      const c = db.collection(ctx.params[0]);
      await inTransaction(ctx, db, { write: [c.name] }, (trx) => {
        for (const d of trx.scan(c.name)) trx.remove(c.name, d._key, {});
      });
      return json(200, c.describe());
    },
  },
  {
    method: 'DELETE',
    pattern: /^\/_api\/collection\/([^/]+)$/,
    handler: (ctx) => {
      const db = ctx.db();
      const c = db.collection(ctx.params[0]);
      db.dropCollection(c.name);
      return json(200, { error: false, code: 200, id: c.id });
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/index$/,
    handler: (ctx) => {
      const c = ctx.db().collection(ctx.query.get('collection') || '');
      return json(200, { error: false, code: 200, indexes: c.indexes.map((i) => i.describe(c.name)) });
    },
  },
  {
    method: 'POST',
    pattern: /^\/_api\/index$/,
    handler: (ctx) => {
      const c = ctx.db().collection(ctx.query.get('collection') || '');
      const { index, created } = c.addIndex(ctx.body || {}, ctx.server.store.seq);
      return json(created ? 201 : 200, Object.assign(index.describe(c.name), { isNewlyCreated: created, error: false, code: created ? 201 : 200 }));
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/index\/([^/]+)\/([^/]+)$/,
    handler: (ctx) => {
      const c = ctx.db().collection(ctx.params[0]);
      const idx = c.index(ctx.params[1]);
      if (!idx) throw withMessage(1212, `index not found: ${ctx.params[1]}`);
      return json(200, Object.assign(idx.describe(c.name), { error: false, code: 200 }));
    },
  },
  {
    method: 'DELETE',
    pattern: /^\/_api\/index\/([^/]+)\/([^/]+)$/,
    handler: (ctx) => {
      const c = ctx.db().collection(ctx.params[0]);
      const idx = c.index(ctx.params[1]);
      if (!idx || idx.type === 'primary' || idx.type === 'edge') throw withMessage(1212, `index not found: ${ctx.params[1]}`);
      c.indexes = c.indexes.filter((i) => i !== idx);
      return json(200, { error: false, code: 200, id: `${c.name}/${idx.id}` });
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/gharial$/,
    handler: (ctx) => json(200, { error: false, code: 200, graphs: [...ctx.db().graphs.values()] }),
  },
  {
    method: 'POST',
    pattern: /^\/_api\/gharial$/,
    handler: (ctx) => json(202, { error: false, code: 202, graph: ctx.db().createGraph(ctx.body || {}) }),
  },
  {
    method: 'GET',
    pattern: /^\/_api\/gharial\/([^/]+)$/,
    handler: (ctx) => json(200, { error: false, code: 200, graph: ctx.db().graph(ctx.params[0]) }),
  },
  {
    method: 'DELETE',
    pattern: /^\/_api\/gharial\/([^/]+)$/,
    handler: (ctx) => {
      const db = ctx.db();
      db.graph(ctx.params[0]);
      db.graphs.delete(ctx.params[0]);
      return json(202, { error: false, code: 202, removed: true });
    },
  },
];

module.exports = { routes };
