// A FOR over a collection followed by FILTERs of `v.attribute == value` or
// `v.attribute IN values` reads only the documents that can match, as an
// index would (lib/aql/evaluator.js). The results must be those of a full
// scan, in every snapshot, with the transaction's own writes.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { start, dbName } = require('./helpers');

const keys = (r) => r.result.slice().sort();

test('narrowed loops see exactly what full scans see, snapshot and own writes included', async () => {
  const { server, client } = await start();
  try {
    const db = await client.database(dbName('narrow'), { c: null });
    await client.query(db, 'FOR i IN 1..300 INSERT { _key: TO_STRING(i), state: i % 3 == 0 ? "a" : "b", n: i } INTO c');
    const begin = async () => {
      const r = await client.call('POST', `/_db/${db}/_api/transaction/begin`, { collections: { write: ['c'] } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return { 'x-arango-trx-id': r.body.result.id };
    };
    const narrow = 'FOR d IN c FILTER d.state == @s AND d.n IN @ns RETURN d._key';
    const full = 'FOR d IN c FILTER NOOPT(d.state) == @s AND NOOPT(d.n) IN @ns RETURN d._key';
    const ns = Array.from({ length: 300 }, (_, i) => i + 1);
    const reader = await begin();
    // Another transaction moves documents from "b" to "a" and commits.
    const writer = await begin();
    await client.query(db, 'FOR d IN c FILTER d.n <= 30 UPDATE d WITH { state: "a" } IN c', {}, {}, writer);
    assert.equal((await client.call('PUT', `/_db/${db}/_api/transaction/${writer['x-arango-trx-id']}`)).status, 200);
    for (const s of ['a', 'b', 'missing']) {
      // The reader's snapshot predates the change; a fresh query sees it.
      for (const h of [reader, undefined]) {
        const a = await client.query(db, narrow, { s, ns }, {}, h);
        const b = await client.query(db, full, { s, ns }, {}, h);
        assert.deepEqual(keys(a), keys(b), `state ${s}, ${h ? 'old snapshot' : 'now'}`);
      }
    }
    assert.equal((await client.query(db, narrow, { s: 'a', ns }, {}, reader)).result.length, 100);
    assert.equal((await client.query(db, narrow, { s: 'a', ns })).result.length, 120);
    // The reader's own writes are seen, by key and by value (on documents the
    // writer left alone: a write to one it changed would conflict).
    await client.query(db, 'UPDATE "32" WITH { state: "a" } IN c', {}, {}, reader);
    await client.query(db, 'INSERT { _key: "new", state: "a", n: 7 } INTO c', {}, {}, reader);
    const own = await client.query(db, narrow, { s: "a", ns: [32, 33, 7] }, {}, reader);
    assert.equal(own.error, undefined, JSON.stringify(own.error && own.error.body));
    assert.deepEqual(keys(own), ["32", "33", "new"]);
    const byKey = await client.query(db, 'FOR d IN c FILTER d._key IN ["32", "new", "nope"] RETURN d.state', {}, {}, reader);
    assert.deepEqual(byKey.result.sort(), ['a', 'a']);
    // A LIMIT between the loop and the filter stops the narrowing (it would change the result).
    const limited = await client.query(db, 'FOR d IN c LIMIT 3 FILTER d.state == "a" RETURN d._key');
    const limitedFull = await client.query(db, 'FOR d IN c LIMIT 3 FILTER NOOPT(d.state) == "a" RETURN d._key');
    assert.deepEqual(limited.result, limitedFull.result);
    const stats = (await client.query(db, narrow, { s: 'b', ns: [1, 2] }, { count: true })).first.extra.stats;
    assert.ok(stats.scannedIndex > 0 && stats.scannedFull === 0, JSON.stringify(stats));
  } finally {
    await server.close();
  }
});

test('FOR ... SORT ... LIMIT taken in sort order gives the rows of a full sort', async () => {
  const { server, client } = await start();
  try {
    const db = await client.database(dbName('topk'), { c: null });
    // Ties on both sort keys, missing attributes (null), strings and numbers.
    await client.query(db, `FOR i IN 1..400 INSERT {
      a: i % 7 == 0 ? null : i % 5, b: i % 11 == 0 ? "s" : i % 3, keep: i % 4 != 0, n: i } INTO c`);
    const shapes = [
      ['SORT d.a, d.b', 'LIMIT 10'],
      ['SORT d.a DESC, d.b ASC', 'LIMIT 3, 20'],
      ['SORT d.b DESC', 'LIMIT 0, 500'],
      ['SORT d.a', 'LIMIT 399, 5'],
    ];
    for (const [sort, limit] of shapes) {
      const fast = `FOR d IN c FILTER d.keep == true ${sort} FILTER d.n > @min ${limit} RETURN d.n`;
      const slow = `FOR d IN c FILTER NOOPT(d.keep) == true ${sort.replace(/d\.(a|b)/g, 'NOOPT(d.$1)')} FILTER d.n > @min ${limit} RETURN d.n`;
      const a = await client.query(db, fast, { min: 13 });
      const b = await client.query(db, slow, { min: 13 });
      assert.deepEqual(a.result, b.result, `${sort} ${limit}`);
    }
  } finally {
    await server.close();
  }
});

test('a loop on a persistent index walks it in order: old snapshots and own writes included', async () => {
  const { server, client } = await start();
  try {
    const db = await client.database(dbName('sorted'), { jobs: null });
    const idx = await client.call('POST', `/_db/${db}/_api/index?collection=jobs`,
      { type: 'persistent', name: 'jobs_ready', fields: ['state', 'elf', 'rank', 'id'] });
    assert.equal(idx.status, 201, JSON.stringify(idx.body));
    const idx2 = await client.call('POST', `/_db/${db}/_api/index?collection=jobs`,
      { type: 'persistent', name: 'jobs_lease', fields: ['state', 'rank', 'id'] });
    assert.equal(idx2.status, 201, JSON.stringify(idx2.body));
    await client.query(db, `FOR i IN 1..500 INSERT {
      _key: TO_STRING(i), id: i, state: i % 4 == 0 ? "claimed" : "ready", elf: i % 3 == 0 ? "x" : "y", rank: -(i % 5) } INTO jobs`);
    const begin = async () => {
      const r = await client.call('POST', `/_db/${db}/_api/transaction/begin`, { collections: { write: ['jobs'] } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return { 'x-arango-trx-id': r.body.result.id };
    };
    const fast = (dir, limit) => `FOR j IN jobs FILTER j.state == "ready" AND j.elf == @elf
      SORT j.rank ${dir}, j.id ${dir} FILTER j.id % 7 != 0 LIMIT ${limit} RETURN j.id`;
    const slow = (dir, limit) => `FOR j IN jobs FILTER NOOPT(j.state) == "ready" AND NOOPT(j.elf) == @elf
      SORT NOOPT(j.rank) ${dir}, NOOPT(j.id) ${dir} FILTER j.id % 7 != 0 LIMIT ${limit} RETURN j.id`;
    const range = (dir, op, noopt) => `FOR j IN jobs FILTER ${noopt ? 'NOOPT(j.state)' : 'j.state'} == "claimed"
      AND j.rank ${op} @r SORT ${noopt ? 'NOOPT(j.rank)' : 'j.rank'} ${dir}, ${noopt ? 'NOOPT(j.id)' : 'j.id'} ${dir} LIMIT 1000 RETURN j.id`;
    const same = async (h, what) => {
      // A bound on the first sort attribute ends the walk early.
      for (const [dir, op] of [['ASC', '<'], ['ASC', '<='], ['DESC', '>'], ['DESC', '>='], ['ASC', '>'], ['DESC', '<']]) {
        const a = await client.query(db, range(dir, op, false), { r: -2 }, { count: true }, h);
        const b = await client.query(db, range(dir, op, true), { r: -2 }, {}, h);
        assert.deepEqual(a.result, b.result, `${what}: rank ${op} -2 ${dir}`);
        // On the index, and (for the bounds ahead of the walk) without reading past them.
        const stats = a.first.extra.stats;
        assert.equal(stats.scannedFull, 0, JSON.stringify(stats));
        if ((dir === 'ASC') === op.startsWith('<')) assert.ok(stats.scannedIndex <= a.result.length + 2, `${what}: ${JSON.stringify(stats)}`);
      }
      for (const [dir, limit] of [['ASC', '10'], ['DESC', '5, 40'], ['ASC', '0, 1000']]) {
        for (const elf of ['x', 'y', 'z']) {
          const a = await client.query(db, fast(dir, limit), { elf }, {}, h);
          const b = await client.query(db, slow(dir, limit), { elf }, {}, h);
          assert.equal(a.error, undefined, JSON.stringify(a.error && a.error.body));
          assert.deepEqual(a.result, b.result, `${what}: ${dir} ${limit} elf ${elf}`);
        }
      }
    };
    await same(undefined, 'fresh');
    const old = await begin();
    await same(old, 'a snapshot');
    // Another transaction claims and re-ranks some jobs and commits: the old
    // snapshot keeps seeing them as they were, a new query sees the change.
    const w = await begin();
    await client.query(db, 'FOR j IN jobs FILTER j.id <= 60 UPDATE j WITH { state: j.id % 2 == 0 ? "claimed" : "ready", rank: 3 } IN jobs', {}, {}, w);
    assert.equal((await client.call('PUT', `/_db/${db}/_api/transaction/${w['x-arango-trx-id']}`)).status, 200);
    await same(old, 'the old snapshot after a commit');
    await same(undefined, 'after the commit');
    // Own writes are merged into the index order.
    const mine = await begin();
    await client.query(db, 'FOR j IN jobs FILTER j.id > 400 AND j.id <= 420 UPDATE j WITH { rank: -9, state: "ready" } IN jobs', {}, {}, mine);
    await client.query(db, 'INSERT { _key: "n1", id: 1000, state: "ready", elf: "y", rank: 0 } INTO jobs', {}, {}, mine);
    await same(mine, 'own writes');
    const claims = await client.query(db, fast('ASC', '3'), { elf: 'y' }, { count: true }, mine);
    assert.deepEqual(claims.result.length, 3);
    // Read from the index: a handful of documents, not the collection.
    const stats = claims.first.extra.stats;
    assert.ok(stats.scannedFull === 0 && stats.scannedIndex < 10, JSON.stringify(stats));
  } finally {
    await server.close();
  }
});
