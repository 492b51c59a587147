// Running an AQL query as the server does: parse, check (checker.js), then
// execute in a transaction: the client's Stream Transaction when the request
// names one (x-arango-trx-id), otherwise an implicit one that takes the
// collection locks the query needs (shared for written collections,
// exclusive for those written with OPTIONS { exclusive: true }), then its
// snapshot, and commits at the end (or aborts on any error).
'use strict';

const { parse } = require('./aql/parser');
const { checkOrThrow } = require('./aql/checker');
const { execute } = require('./aql/evaluator');
const { explain } = require('./aql/explain');
const { Transaction } = require('./store/transactions');
const { withMessage } = require('./errors');

// Parsed queries by text (ASTs are never changed after parsing; the checks,
// which depend on the bind values and the database, run every time), as
// arangod keeps query plans.
const parsed = new Map();
const PARSED_MAX = 1000;

function parseCached(query) {
  let ast = parsed.get(query);
  if (!ast) {
    ast = parse(query);
    if (parsed.size >= PARSED_MAX) parsed.delete(parsed.keys().next().value);
    parsed.set(query, ast);
  }
  return ast;
}

function parseAndCheck(db, query, bindVars) {
  if (typeof query !== 'string') throw withMessage(1502, 'query is empty');
  if (bindVars !== undefined && bindVars !== null && (typeof bindVars !== 'object' || Array.isArray(bindVars))) {
    throw withMessage(1550, 'invalid structure of bind parameters');
  }
  const ast = parseCached(query);
  const analysis = checkOrThrow(ast, { bindVars: bindVars || {}, collections: db.collections, graphs: db.graphs });
  return { ast, analysis };
}

function traversalKnown(analysis, requireWith) {
  if (!requireWith) return null;
  return new Set([...analysis.withNames, ...analysis.explicit]);
}

/**
 * Runs `query` in database `db`. `lease` is { trx, release } of a Stream
 * Transaction or null. Resolves to { result, extra } or rejects with an
 * ArangoError.
 */
async function runQuery(server, db, body, lease) {
  const bindVars = body.bindVars || {};
  const { ast, analysis } = parseAndCheck(db, body.query, bindVars);
  const options = Object.assign({}, body.options || {});
  const requireWith = server.options.requireWith;
  if (lease) {
    const trx = lease.trx;
    for (const name of analysis.writes.keys()) trx.checkWrite(name);
    const sp = trx.savepoint();
    trx.traversalKnown = traversalKnown(analysis, requireWith);
    try {
      const out = execute(ast, trx, bindVars, options);
      return out;
    } catch (e) {
      trx.rollback(sp);
      if (e.errorNum === 1200 && !e.precondition) server.transactions.abortAfterConflict(trx);
      throw e;
    } finally {
      trx.traversalKnown = null;
    }
  }
  const write = [];
  const exclusive = [];
  for (const [name, w] of analysis.writes) (w.exclusive ? exclusive : write).push(name);
  const trx = new Transaction(server.store, db, 'query', { write, exclusive, read: [...analysis.reads] });
  const timeout = server.options.queryLockTimeoutS;
  await trx.begin(timeout > 0 ? timeout * 1000 : 0);
  try {
    // Let other requests that are ready take their snapshots too, so that
    // concurrent queries overlap as they do on a real server.
    await new Promise((r) => setImmediate(r));
    if (server.options.queryDelayMs > 0) await new Promise((r) => setTimeout(r, server.options.queryDelayMs));
    trx.traversalKnown = traversalKnown(analysis, requireWith);
    const out = execute(ast, trx, bindVars, options);
    trx.commit();
    return out;
  } catch (e) {
    trx.abort();
    throw e;
  }
}

/** EXPLAIN: the plan of `query` (it is checked like a query, not run). */
function explainQuery(db, body) {
  const bindVars = body.bindVars || {};
  const { ast } = parseAndCheck(db, body.query, bindVars);
  return explain(ast, db, bindVars);
}

module.exports = { runQuery, explainQuery, parseAndCheck };
