// Stream Transactions: isolation, abort, write-write conflicts, exclusive
// locks with bounded waits, idle expiry, and the errors of their lifecycle.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { start, dbName } = require('./helpers');
const { after } = test;

let ctx;
test.before(async () => {
  ctx = await start({ idleTimeoutMs: 5000, streamingLockTimeoutMs: 300 });
});
test.after(() => ctx.server.close());

const trxHeader = (id) => ({ 'x-arango-trx-id': id });

test('a transaction sees its own writes; others see them only after commit', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('iso'), { a: null });
  const t = await c.begin(db, { write: ['a'] });
  assert.equal(t.status, 201);
  const id = t.body.result.id;
  assert.equal(t.body.result.status, 'running');
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/a`, { _key: 'x', v: 1 }, trxHeader(id))).status, 202);
  await c.query(db, 'INSERT { _key: "y", v: 2 } INTO a', {}, {}, trxHeader(id));
  const inside = await c.query(db, 'FOR d IN a SORT d._key RETURN d._key', {}, {}, trxHeader(id));
  assert.deepEqual(inside.result, ['x', 'y']);
  const outside = await c.query(db, 'FOR d IN a RETURN d._key');
  assert.deepEqual(outside.result, []);
  assert.equal((await c.call('GET', `/_db/${db}/_api/document/a/x`)).status, 404);
  const commit = await c.call('PUT', `/_db/${db}/_api/transaction/${id}`);
  assert.deepEqual([commit.status, commit.body.result.status], [200, 'committed']);
  assert.deepEqual((await c.query(db, 'FOR d IN a SORT d._key RETURN d._key')).result, ['x', 'y']);
  // Committing again is fine (idempotent); aborting a committed one is not.
  assert.equal((await c.call('PUT', `/_db/${db}/_api/transaction/${id}`)).status, 200);
  const abort = await c.call('DELETE', `/_db/${db}/_api/transaction/${id}`);
  assert.deepEqual([abort.status, abort.body.errorNum], [400, 1653]);
  // Using a finished transaction is 1655.
  const late = await c.call('POST', `/_db/${db}/_api/document/a`, { v: 3 }, trxHeader(id));
  assert.deepEqual([late.status, late.body.errorNum], [404, 1655]);
});

test('an uncommitted write in one database does not conflict with the same key in another', async () => {
  const c = ctx.client;
  const one = await c.database(dbName('one'), { meta: null });
  const two = await c.database(dbName('two'), { meta: null });
  const id = (await c.begin(one, { write: ['meta'] })).body.result.id;
  await c.query(one, 'INSERT { _key: "counters", v: 1 } INTO meta', {}, {}, trxHeader(id));
  // Same collection name, same key, another database: no conflict.
  const other = await c.call('POST', `/_db/${two}/_api/document/meta`, { _key: 'counters', v: 2 });
  assert.equal(other.status, 202);
  // The same key in the same database still conflicts.
  const same = await c.call('POST', `/_db/${one}/_api/document/meta`, { _key: 'counters', v: 3 });
  assert.equal(same.body.errorNum, 1200);
  await c.call('DELETE', `/_db/${one}/_api/transaction/${id}`);
});

test('a transaction reads the snapshot it started with', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('snap'), { a: null });
  await c.call('POST', `/_db/${db}/_api/document/a`, { _key: 'k', v: 1 });
  const id = (await c.begin(db, { read: ['a'] })).body.result.id;
  await c.call('PATCH', `/_db/${db}/_api/document/a/k`, { v: 2 });
  const seen = await c.call('GET', `/_db/${db}/_api/document/a/k`, undefined, trxHeader(id));
  assert.equal(seen.body.v, 1);
  assert.equal((await c.call('GET', `/_db/${db}/_api/document/a/k`)).body.v, 2);
  await c.call('DELETE', `/_db/${db}/_api/transaction/${id}`);
});

test('abort undoes every write', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('abort'), { a: null });
  await c.call('POST', `/_db/${db}/_api/document/a`, { _key: 'keep', v: 1 });
  const id = (await c.begin(db, { write: ['a'] })).body.result.id;
  await c.query(db, 'FOR d IN a UPDATE d WITH { v: 2 } IN a', {}, {}, trxHeader(id));
  await c.call('POST', `/_db/${db}/_api/document/a`, { _key: 'new' }, trxHeader(id));
  const abort = await c.call('DELETE', `/_db/${db}/_api/transaction/${id}`);
  assert.deepEqual([abort.status, abort.body.result.status], [200, 'aborted']);
  assert.deepEqual((await c.query(db, 'FOR d IN a RETURN [d._key, d.v]')).result, [['keep', 1]]);
  const commit = await c.call('PUT', `/_db/${db}/_api/transaction/${id}`);
  assert.deepEqual([commit.status, commit.body.errorNum], [400, 1653]);
  assert.match(commit.body.errorMessage, /already aborted/);
});

test('concurrent writers of one document conflict (1200, HTTP 409); the loser is aborted', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('conflict'), { a: null });
  await c.call('POST', `/_db/${db}/_api/document/a`, { _key: 'k', v: 0 });
  const t1 = (await c.begin(db, { write: ['a'] })).body.result.id;
  const t2 = (await c.begin(db, { write: ['a'] })).body.result.id;
  assert.equal((await c.call('PATCH', `/_db/${db}/_api/document/a/k`, { v: 1 }, trxHeader(t1))).status, 202);
  const lost = await c.call('PATCH', `/_db/${db}/_api/document/a/k`, { v: 2 }, trxHeader(t2));
  assert.deepEqual([lost.status, lost.body.errorNum], [409, 1200]);
  assert.equal((await c.call('GET', `/_db/${db}/_api/transaction/${t2}`)).body.result.status, 'aborted');
  assert.equal((await c.call('PUT', `/_db/${db}/_api/transaction/${t1}`)).status, 200);
  // A transaction that started before another committed the document conflicts too.
  const t3 = (await c.begin(db, { write: ['a'] })).body.result.id;
  await c.call('PATCH', `/_db/${db}/_api/document/a/k`, { v: 3 });
  const stale = await c.query(db, 'UPDATE "k" WITH { v: 4 } IN a', {}, {}, trxHeader(t3));
  assert.equal(stale.error.body.errorNum, 1200);
  assert.equal((await c.call('GET', `/_db/${db}/_api/document/a/k`)).body.v, 3);
  // Two transactions inserting the same unique value: the second conflicts.
  await c.call('POST', `/_db/${db}/_api/index?collection=a`, { type: 'persistent', fields: ['u'], unique: true });
  const t4 = (await c.begin(db, { write: ['a'] })).body.result.id;
  const t5 = (await c.begin(db, { write: ['a'] })).body.result.id;
  await c.call('POST', `/_db/${db}/_api/document/a`, { u: 1 }, trxHeader(t4));
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/a`, { u: 1 }, trxHeader(t5))).body.errorNum, 1200);
  await c.call('PUT', `/_db/${db}/_api/transaction/${t4}`);
});

test('concurrent standalone queries updating one document: one of them conflicts', async () => {
  const { server, client } = await require('./helpers').start({ queryDelayMs: 50 });
  try {
    const db = await client.database(dbName('race'), { jobs: null });
    await client.call('POST', `/_db/${db}/_api/document/jobs`, { _key: 'j', state: 'ready' });
    const claim = 'FOR j IN jobs FILTER j.state == "ready" UPDATE j WITH { state: "claimed", by: @me } IN jobs RETURN NEW.by';
    const [a, b] = await Promise.all(['a', 'b'].map((me) => client.query(db, claim, { me })));
    const outcomes = [a, b].map((r) => (r.error ? r.error.body.errorNum : r.result));
    assert.equal(outcomes.filter((o) => o === 1200).length, 1, JSON.stringify(outcomes));
    // With the exclusive option the second waits for the first and then finds nothing left.
    await client.call('PATCH', `/_db/${db}/_api/document/jobs/j`, { state: 'ready' });
    const exclusive = `${claim} `.replace('IN jobs RETURN', 'IN jobs OPTIONS { exclusive: true } RETURN');
    const [x, y] = await Promise.all(['x', 'y'].map((me) => client.query(db, exclusive, { me })));
    assert.deepEqual([x.result, y.result].map((r) => r.length).sort(), [0, 1]);
  } finally {
    await server.close();
  }
});

test('exclusive locks make others wait, up to lockTimeout (error 18)', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('locks'), { meta: null, other: null });
  const holder = (await c.begin(db, { exclusive: ['meta'] })).body.result.id;
  const started = Date.now();
  const timedOut = await c.begin(db, { exclusive: ['meta'] }, { lockTimeout: 0.3 });
  assert.deepEqual([timedOut.status, timedOut.body.errorNum], [500, 18]);
  assert.ok(Date.now() - started >= 280, 'it waited for the lock');
  // A shared writer waits as well; a reader does not.
  assert.equal((await c.begin(db, { write: ['meta'] }, { lockTimeout: 0.1 })).body.errorNum, 18);
  assert.equal((await c.query(db, 'FOR m IN meta RETURN m')).error, undefined);
  // Another collection is free.
  const free = await c.begin(db, { exclusive: ['other'] }, { lockTimeout: 0.1 });
  assert.equal(free.status, 201);
  await c.call('DELETE', `/_db/${db}/_api/transaction/${free.body.result.id}`);
  // A waiter gets the lock once the holder commits.
  const waiter = c.begin(db, { exclusive: ['meta'] }, { lockTimeout: 5 });
  await new Promise((r) => setTimeout(r, 100));
  await c.call('PUT', `/_db/${db}/_api/transaction/${holder}`);
  const granted = await waiter;
  assert.equal(granted.status, 201);
  await c.call('PUT', `/_db/${db}/_api/transaction/${granted.body.result.id}`);
  assert.ok(ctx.server.stats.lockTimeouts >= 2);
});

test('writes must be declared; undeclared reads follow allowImplicit (1652)', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('decl'), { a: null, b: null });
  const id = (await c.begin(db, { write: ['a'] })).body.result.id;
  const w = await c.call('POST', `/_db/${db}/_api/document/b`, {}, trxHeader(id));
  assert.deepEqual([w.status, w.body.errorNum], [400, 1652]);
  assert.equal((await c.query(db, 'INSERT {} INTO b', {}, {}, trxHeader(id))).error.body.errorNum, 1652);
  assert.equal((await c.query(db, 'FOR x IN b RETURN x', {}, {}, trxHeader(id))).error, undefined);
  await c.call('DELETE', `/_db/${db}/_api/transaction/${id}`);
  const strict = (await c.begin(db, { write: ['a'], allowImplicit: false })).body.result.id;
  assert.equal((await c.query(db, 'FOR x IN b RETURN x', {}, {}, trxHeader(strict))).error.body.errorNum, 1652);
  await c.call('DELETE', `/_db/${db}/_api/transaction/${strict}`);
  const unknown = await c.begin(db, { write: ['nope'] });
  assert.deepEqual([unknown.status, unknown.body.errorNum], [404, 1203]);
});

test('idle transactions expire and are aborted; unknown ids are 1655', async () => {
  const idle = await start({ idleTimeoutMs: 300 });
  after(() => idle.server.close());
  const c = idle.client;
  const db = await c.database(dbName('idle'), { a: null });
  const id = (await c.begin(db, { exclusive: ['a'] })).body.result.id;
  await c.call('POST', `/_db/${db}/_api/document/a`, { _key: 'x' }, trxHeader(id));
  await new Promise((r) => setTimeout(r, 800));
  assert.equal((await c.call('GET', `/_db/${db}/_api/transaction/${id}`)).body.result.status, 'aborted');
  const commit = await c.call('PUT', `/_db/${db}/_api/transaction/${id}`);
  assert.deepEqual([commit.status, commit.body.errorNum], [400, 1653]);
  assert.match(commit.body.errorMessage, /expired/);
  // Its lock is released and its write undone.
  assert.equal((await c.begin(db, { exclusive: ['a'] }, { lockTimeout: 0.2 })).status, 201);
  assert.deepEqual((await c.query(db, 'FOR d IN a RETURN d')).result, []);
  const none = await c.call('PUT', `/_db/${db}/_api/transaction/987654321`);
  assert.deepEqual([none.status, none.body.errorNum], [404, 1655]);
});

test('one transaction used by two requests at once: the second waits, then fails with 28', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('busy'), { a: null });
  const id = (await c.begin(db, { write: ['a'] })).body.result.id;
  await c.call('POST', `/_db/${db}/_api/document/a`, { _key: 'x' }, trxHeader(id));
  // While one request holds the transaction, a second one using it waits for
  // it, up to the streaming lock timeout (300 ms here), then fails.
  const lease = await ctx.server.transactions.lease(id, db);
  const second = await c.call('GET', `/_db/${db}/_api/document/a/x`, undefined, trxHeader(id));
  lease.release();
  assert.deepEqual([second.status, second.body.errorNum], [500, 28]);
  assert.equal((await c.call('GET', `/_db/${db}/_api/document/a/x`, undefined, trxHeader(id))).status, 200);
  await c.call('DELETE', `/_db/${db}/_api/transaction/${id}`);
});

test('cursors of a transaction read through it and die with it', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('trxcur'), { a: null });
  const id = (await c.begin(db, { write: ['a'] })).body.result.id;
  await c.query(db, 'FOR i IN 1..5 INSERT { i } INTO a', {}, {}, trxHeader(id));
  const first = await c.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR d IN a SORT d.i RETURN d.i' }, trxHeader(id));
  assert.deepEqual(first.body.result, [1, 2]);
  const next = await c.call('POST', `/_db/${db}/_api/cursor/${first.body.id}`, undefined, trxHeader(id));
  assert.deepEqual(next.body.result, [3, 4]);
  await c.call('PUT', `/_db/${db}/_api/transaction/${id}`);
  const after = await c.call('POST', `/_db/${db}/_api/cursor/${first.body.id}`, undefined, trxHeader(id));
  assert.equal(after.body.errorNum, 1600);
});

test('maxTransactionSize bounds what one transaction may write (32); running ones are listed', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('size'), { a: null });
  const id = (await c.begin(db, { write: ['a'] }, { maxTransactionSize: 200 })).body.result.id;
  const list = await c.call('GET', `/_db/${db}/_api/transaction`);
  assert.deepEqual(list.body.transactions, [{ id, state: 'running' }]);
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/a`, { v: 'x'.repeat(50) }, trxHeader(id))).status, 202);
  const big = await c.call('POST', `/_db/${db}/_api/document/a`, { v: 'x'.repeat(300) }, trxHeader(id));
  assert.deepEqual([big.status, big.body.errorNum], [500, 32]);
  // The failed operation is rolled back; the transaction goes on.
  assert.equal((await c.call('PUT', `/_db/${db}/_api/transaction/${id}`)).status, 200);
  assert.equal((await c.query(db, 'RETURN LENGTH(a)')).result[0], 1);
});
