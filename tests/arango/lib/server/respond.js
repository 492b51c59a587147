// Helpers shared by the routes: JSON answers and running a request's work in
// its transaction (the client's Stream Transaction named by x-arango-trx-id,
// or an implicit one that locks the written collections for the request).
'use strict';

const { Transaction } = require('../store/transactions');

function json(status, body, headers) {
  return { status, body, headers };
}

/**
 * Runs `fn(trx)` in the request's transaction. `spec` lists the collections
 * the work writes ({ write: [...] }) for an implicit transaction.
 */
async function inTransaction(ctx, db, spec, fn) {
  const server = ctx.server;
  if (ctx.trxId) {
    const lease = await server.transactions.lease(ctx.trxId, db.name);
    const trx = lease.trx;
    const sp = trx.savepoint();
    try {
      return fn(trx);
    } catch (e) {
      trx.rollback(sp);
      if (e.errorNum === 1200 && !e.precondition) server.transactions.abortAfterConflict(trx);
      throw e;
    } finally {
      lease.release();
    }
  }
  const trx = new Transaction(server.store, db, 'document', { write: spec.write || [], read: spec.read || [] });
  const timeout = server.options.queryLockTimeoutS;
  await trx.begin(timeout > 0 ? timeout * 1000 : 0);
  try {
    const out = fn(trx);
    trx.commit();
    return out;
  } catch (e) {
    trx.abort();
    throw e;
  }
}

module.exports = { json, inTransaction };
