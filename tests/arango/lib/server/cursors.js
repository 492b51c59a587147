// Query cursors (https://docs.arangodb.com/3.11/develop/http-api/queries/aql-queries/):
// a query's result is handed out in batches of `batchSize`; while `hasMore`
// is true the client fetches the next batch with POST /_api/cursor/{id}
// (the PUT form is deprecated in 3.11 and removed in 4.0). With
// options.allowRetry the latest batch can be fetched again with
// POST /_api/cursor/{id}/{batchId} (3.11+). A cursor expires `ttl` seconds
// after its last use; a fetch after exhaustion or expiry is error 1600.
'use strict';

const { withMessage } = require('../errors');

let nextCursorId = 50000;

class Cursors {
  constructor(server) {
    this.server = server;
    this.map = new Map();
    this.timer = setInterval(() => this.sweep(), 1000);
    this.timer.unref();
  }

  stop() {
    clearInterval(this.timer);
  }

  sweep() {
    const now = Date.now();
    for (const [id, c] of this.map) if (c.expiresAt < now) this.map.delete(id);
  }

  /** The first batch of a new cursor over `rows` (201 body). */
  create(dbName, rows, body, run, trxId) {
    const opts = body.options || {};
    let batchSize = typeof body.batchSize === 'number' && body.batchSize > 0 ? Math.floor(body.batchSize) : this.server.options.defaultBatchSize;
    batchSize = Math.min(batchSize, this.server.options.maxBatchSize);
    const ttl = typeof body.ttl === 'number' && body.ttl > 0 ? body.ttl : this.server.options.cursorTtlS;
    const stats = Object.assign({}, run.stats, { executionTime: 0.001, peakMemoryUsage: 0 });
    if (opts.fullCount) stats.fullCount = run.fullCount;
    const c = {
      id: String((nextCursorId += 7)), db: dbName, rows, pos: 0, batchSize, ttl, count: body.count === true,
      extra: { warnings: run.warnings, stats }, trxId, batchId: 0, last: null, allowRetry: opts.allowRetry === true,
      expiresAt: Date.now() + ttl * 1000, busy: false,
    };
    const first = this.batch(c);
    if (first.hasMore || c.allowRetry) this.map.set(c.id, c);
    return first;
  }

  batch(c) {
    const result = c.rows.slice(c.pos, c.pos + c.batchSize);
    c.pos += result.length;
    c.batchId += 1;
    const hasMore = c.pos < c.rows.length;
    const out = { result, hasMore, cached: false, error: false };
    if (hasMore || c.allowRetry) out.id = c.id;
    if (c.count) out.count = c.rows.length;
    out.extra = c.extra;
    if (c.allowRetry && hasMore) out.nextBatchId = String(c.batchId + 1);
    c.last = { batchId: String(c.batchId), body: out };
    c.expiresAt = Date.now() + c.ttl * 1000;
    return out;
  }

  get(dbName, id, trxId) {
    const c = this.map.get(id);
    if (!c || c.db !== dbName) throw withMessage(1600, `cursor not found: ${id}`);
    if (trxId && c.trxId !== trxId) throw withMessage(1600, `cursor not found: ${id} does not belong to transaction ${trxId}`);
    if (c.trxId) {
      const e = this.server.transactions.trxs.get(c.trxId);
      if (!e || !e.trx.running()) {
        this.map.delete(id);
        throw withMessage(1600, `cursor not found: ${id} (its transaction ${c.trxId} has ended)`);
      }
    }
    return c;
  }

  /** The next batch of cursor `id` (200 body). */
  next(dbName, id, trxId) {
    const c = this.get(dbName, id, trxId);
    if (c.pos >= c.rows.length && !c.allowRetry) {
      this.map.delete(id);
      throw withMessage(1600, `cursor not found: ${id}`);
    }
    const out = this.batch(c);
    if (!out.hasMore && !c.allowRetry) this.map.delete(id);
    return Object.assign({ code: 200 }, out);
  }

  /** The batch `batchId` again (allowRetry): the latest one only. */
  retry(dbName, id, batchId, trxId) {
    const c = this.get(dbName, id, trxId);
    if (c.last && c.last.batchId === batchId) return Object.assign({ code: 200 }, c.last.body);
    if (String(c.batchId + 1) === batchId) return this.next(dbName, id, trxId);
    throw withMessage(1600, `cursor not found: batch ${batchId} of cursor ${id} is not the latest one`);
  }

  remove(dbName, id) {
    const c = this.map.get(id);
    if (!c || c.db !== dbName) throw withMessage(1600, `cursor not found: ${id}`);
    this.map.delete(id);
  }
}

module.exports = { Cursors };
