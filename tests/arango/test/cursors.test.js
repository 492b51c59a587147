// Cursors: small default batches, batchSize honoured, POST for the next
// batch, the deprecated PUT flagged (or refused), count, fullCount,
// allowRetry, memoryLimit, and bind parameters refused as a server does.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { start, dbName } = require('./helpers');

async function seeded(client, n) {
  const db = await client.database(dbName('cur'), { c: null });
  await client.query(db, 'FOR i IN 1..@n INSERT { _key: TO_STRING(i), i } INTO c', { n });
  return db;
}

test('results come in small batches by default; every next batch is fetched with POST', async () => {
  const { server, client } = await start();
  try {
    const db = await seeded(client, 7);
    const r = await client.query(db, 'FOR x IN c SORT x.i RETURN x.i', {}, { count: true });
    assert.deepEqual(r.result, [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(r.batches, 4, 'default batch size 2');
    assert.equal(r.first.count, 7);
    assert.ok(r.first.hasMore && r.first.id);
    const big = await client.query(db, 'FOR x IN c RETURN x.i', {}, { batchSize: 5 });
    assert.equal(big.batches, 2, 'batchSize is honoured');
    // Fetching past the end: the cursor is gone (1600).
    const gone = await client.call('POST', `/_db/${db}/_api/cursor/${r.first.id}`);
    assert.deepEqual([gone.status, gone.body.errorNum], [404, 1600]);
    const del = await client.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR x IN c RETURN x' });
    assert.equal((await client.call('DELETE', `/_db/${db}/_api/cursor/${del.body.id}`)).status, 202);
    assert.equal((await client.call('POST', `/_db/${db}/_api/cursor/${del.body.id}`)).body.errorNum, 1600);
    assert.equal(server.stats.deprecatedPutCursor, 0);
  } finally {
    await server.close();
  }
});

test('maxBatchSize caps what a client asks for', async () => {
  const { server, client } = await start({ maxBatchSize: 3 });
  try {
    const db = await seeded(client, 7);
    const r = await client.query(db, 'FOR x IN c RETURN x', {}, { batchSize: 10000 });
    assert.equal(r.batches, 3);
  } finally {
    await server.close();
  }
});

test('the deprecated PUT /_api/cursor/{id} works but is counted and logged, or refused', async () => {
  const warn = await start();
  try {
    const db = await seeded(warn.client, 3);
    const first = await warn.client.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR x IN c RETURN x' });
    const next = await warn.client.call('PUT', `/_db/${db}/_api/cursor/${first.body.id}`);
    assert.equal(next.status, 200);
    assert.match(next.headers.get('x-arango-standin-deprecated'), /4\.0/);
    assert.equal(warn.server.stats.deprecatedPutCursor, 1);
    assert.ok(warn.logs.some((l) => /deprecated PUT \/_api\/cursor/.test(l)));
    const stats = await warn.client.call('GET', '/_admin/standin/stats');
    assert.equal(stats.body.deprecatedPutCursor, 1);
  } finally {
    await warn.server.close();
  }
  const strict = await start({ putCursor: 'refuse' });
  try {
    const db = await seeded(strict.client, 3);
    const first = await strict.client.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR x IN c RETURN x' });
    const refused = await strict.client.call('PUT', `/_db/${db}/_api/cursor/${first.body.id}`);
    assert.deepEqual([refused.status, refused.body.errorNum], [405, 405]);
    assert.match(refused.body.errorMessage, /POST/);
  } finally {
    await strict.server.close();
  }
});

test('fullCount counts the rows before the last top-level LIMIT', async () => {
  const { server, client } = await start();
  try {
    const db = await seeded(client, 9);
    const r = await client.call('POST', `/_db/${db}/_api/cursor`, {
      query: 'FOR x IN c FILTER x.i > 2 SORT x.i LIMIT 2 RETURN x.i', options: { fullCount: true }, batchSize: 10,
    });
    assert.deepEqual(r.body.result, [3, 4]);
    assert.equal(r.body.extra.stats.fullCount, 7);
  } finally {
    await server.close();
  }
});

test('allowRetry: the latest batch can be fetched again after a lost answer', async () => {
  const { server, client } = await start();
  try {
    const db = await seeded(client, 5);
    const first = await client.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR x IN c SORT x.i RETURN x.i', options: { allowRetry: true } });
    assert.equal(first.body.nextBatchId, '2');
    const second = await client.call('POST', `/_db/${db}/_api/cursor/${first.body.id}/${first.body.nextBatchId}`);
    const again = await client.call('POST', `/_db/${db}/_api/cursor/${first.body.id}/2`);
    assert.deepEqual(second.body.result, [3, 4]);
    assert.deepEqual(again.body.result, [3, 4]);
    const old = await client.call('POST', `/_db/${db}/_api/cursor/${first.body.id}/1`);
    assert.equal(old.body.errorNum, 1600);
  } finally {
    await server.close();
  }
});

test('memoryLimit refuses results larger than allowed', async () => {
  const { server, client } = await start();
  try {
    const db = await seeded(client, 50);
    const r = await client.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR x IN c RETURN x', memoryLimit: 100 });
    assert.deepEqual([r.status, r.body.errorNum], [500, 32]);
    const ok = await client.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR x IN c RETURN x', memoryLimit: 1 << 20 });
    assert.equal(ok.status, 201);
  } finally {
    await server.close();
  }
});

test('bind parameters are refused as a server refuses them (1551, 1552, 1553) and queries parse strictly (1501)', async () => {
  const { server, client } = await start();
  try {
    const db = await seeded(client, 1);
    const q = (query, bindVars) => client.call('POST', `/_db/${db}/_api/cursor`, { query, bindVars });
    const missing = await q('FOR x IN c FILTER x.i == @i RETURN x', {});
    assert.deepEqual([missing.status, missing.body.errorNum], [400, 1551]);
    const extra = await q('FOR x IN c RETURN x', { i: 1 });
    assert.deepEqual([extra.status, extra.body.errorNum], [400, 1552]);
    const type = await q('FOR x IN @@coll RETURN x', { '@coll': 1 });
    assert.deepEqual([type.status, type.body.errorNum], [400, 1553]);
    const ok = await q('FOR x IN @@coll RETURN x.i', { '@coll': 'c' });
    assert.deepEqual(ok.body.result, [1]);
    const syntax = await q('FOR x IN c RETURN x.filter', {});
    assert.deepEqual([syntax.status, syntax.body.errorNum], [400, 1501]);
    assert.match(syntax.body.errorMessage, /FILTER declaration/);
    const subset = await q('FOR x IN c RETURN LEVENSHTEIN_DISTANCE("a", "b")', {});
    assert.deepEqual([subset.status, subset.body.errorNum], [501, 9]);
    assert.equal((await q('', {})).body.errorNum, 1502);
  } finally {
    await server.close();
  }
});
