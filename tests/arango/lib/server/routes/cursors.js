// AQL cursors and EXPLAIN (https://docs.arangodb.com/3.11/develop/http-api/queries/aql-queries/).
// Body: query, bindVars, batchSize, count, ttl, memoryLimit, options
// (fullCount, allowRetry, failOnWarning, maxWarningCount, memoryLimit, stream).
// The deprecated PUT /_api/cursor/{id} is served, counted and logged (or
// refused: putCursor 'refuse'), because ArangoDB 4.0 removes it.
'use strict';

const { json } = require('../respond');
const { runQuery, explainQuery } = require('../../query');
const { withMessage } = require('../../errors');

function memoryLimit(body) {
  const a = typeof body.memoryLimit === 'number' ? body.memoryLimit : 0;
  const b = body.options && typeof body.options.memoryLimit === 'number' ? body.options.memoryLimit : 0;
  return a > 0 ? a : b;
}

async function create(ctx) {
  const db = ctx.db();
  const body = ctx.body || {};
  if (typeof body.query !== 'string' || !body.query.trim()) throw withMessage(1502, 'query is empty');
  let lease = null;
  if (ctx.trxId) lease = await ctx.server.transactions.lease(ctx.trxId, db.name);
  let run;
  try {
    run = await runQuery(ctx.server, db, body, lease);
  } finally {
    if (lease) lease.release();
  }
  const limit = memoryLimit(body);
  if (limit > 0 && Buffer.byteLength(JSON.stringify(run.result)) > limit) {
    throw withMessage(32, `resource limit exceeded: query would use more memory than allowed (memoryLimit ${limit} bytes)`);
  }
  const out = ctx.server.cursors.create(db.name, run.result, body, run, ctx.trxId);
  return json(201, Object.assign({ code: 201 }, out));
}

const routes = [
  { method: 'POST', pattern: /^\/_api\/cursor$/, handler: create },
  {
    method: 'POST',
    pattern: /^\/_api\/cursor\/([^/]+)$/,
    handler: (ctx) => json(200, ctx.server.cursors.next(ctx.dbName, ctx.params[0], ctx.trxId)),
  },
  {
    method: 'PUT',
    pattern: /^\/_api\/cursor\/([^/]+)$/,
    handler: (ctx) => {
      const s = ctx.server;
      s.stats.deprecatedPutCursor++;
      const mode = s.options.putCursor;
      if (mode === 'refuse') {
        throw withMessage(405, 'method not supported: PUT /_api/cursor/{id} is deprecated in ArangoDB 3.11 and removed in 4.0; '
          + 'fetch the next batch with POST /_api/cursor/{id}');
      }
      if (mode === 'warn') s.log(`deprecated PUT /_api/cursor/${ctx.params[0]} used (removed in ArangoDB 4.0; use POST)`);
      const out = json(200, s.cursors.next(ctx.dbName, ctx.params[0], ctx.trxId));
      out.headers = { 'x-arango-standin-deprecated': 'PUT /_api/cursor/{id} is removed in ArangoDB 4.0' };
      return out;
    },
  },
  {
    method: 'POST',
    pattern: /^\/_api\/cursor\/([^/]+)\/([^/]+)$/,
    handler: (ctx) => json(200, ctx.server.cursors.retry(ctx.dbName, ctx.params[0], ctx.params[1], ctx.trxId)),
  },
  {
    method: 'DELETE',
    pattern: /^\/_api\/cursor\/([^/]+)$/,
    handler: (ctx) => {
      ctx.server.cursors.remove(ctx.dbName, ctx.params[0]);
      return json(202, { id: ctx.params[0], error: false, code: 202 });
    },
  },
  {
    method: 'POST',
    pattern: /^\/_api\/explain$/,
    handler: (ctx) => json(200, Object.assign(explainQuery(ctx.db(), ctx.body || {}), { error: false, code: 200 })),
  },
];

module.exports = { routes };
