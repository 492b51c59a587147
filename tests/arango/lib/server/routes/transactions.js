// Stream Transactions (https://docs.arangodb.com/3.11/develop/http-api/transactions/stream-transactions/)
// and the refusal of JavaScript Transactions.
//
// POST /_api/transaction with an `action` is answered as a server started
// with --javascript.transactions false answers it: error 11
// (ERROR_FORBIDDEN), HTTP 403 (ArangoDB's own test
// tests/js/client/server_permissions/test-javascript-transactions-off.js
// expects ERROR_FORBIDDEN). The backend must not use them: 3.11 can switch
// them off, 3.12 deprecates them and 4.0 removes them.
'use strict';

const { json } = require('../respond');
const { withMessage } = require('../../errors');

function status(t) {
  return json(200, { error: false, code: 200, result: { id: t.id, status: t.status } });
}

const routes = [
  {
    method: 'POST',
    pattern: /^\/_api\/transaction$/,
    handler: (ctx) => {
      ctx.server.stats.jsTransactionsRefused++;
      ctx.server.log('refused a JavaScript transaction (POST /_api/transaction): the stand-in runs as with --javascript.transactions false');
      throw withMessage(11, 'forbidden: JavaScript Transactions are disabled on this server (--javascript.transactions false); '
        + 'use a Stream Transaction (POST /_api/transaction/begin) or a single AQL query');
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/transaction$/,
    handler: (ctx) => json(200, { error: false, code: 200, transactions: ctx.server.transactions.list(ctx.db().name) }),
  },
  {
    method: 'POST',
    pattern: /^\/_api\/transaction\/begin$/,
    handler: async (ctx) => {
      const t = await ctx.server.transactions.begin(ctx.db(), ctx.body);
      return json(201, { error: false, code: 201, result: { id: t.id, status: t.status } });
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/transaction\/([^/]+)$/,
    handler: (ctx) => status(ctx.server.transactions.entry(ctx.params[0], ctx.db().name).trx),
  },
  {
    method: 'PUT',
    pattern: /^\/_api\/transaction\/([^/]+)$/,
    handler: async (ctx) => status(await ctx.server.transactions.finish(ctx.params[0], ctx.db().name, 'committed')),
  },
  {
    method: 'DELETE',
    pattern: /^\/_api\/transaction\/([^/]+)$/,
    handler: async (ctx) => status(await ctx.server.transactions.finish(ctx.params[0], ctx.db().name, 'aborted')),
  },
];

module.exports = { routes };
