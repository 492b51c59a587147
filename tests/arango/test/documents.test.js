// The document API, unique and sparse indexes, edges, revisions, and
// collection schemas (draft-4 JSON Schema, levels, 1620).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { start, dbName } = require('./helpers');
const draft4 = require('../lib/schema/draft4');

let ctx;
test.before(async () => {
  ctx = await start();
});
test.after(() => ctx.server.close());

test('single documents: insert, read, update, replace, remove', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('docs'), { d: null });
  const ins = await c.call('POST', `/_db/${db}/_api/document/d?returnNew=true`, { _key: 'k', a: 1, o: { x: 1 } });
  assert.equal(ins.status, 202);
  assert.deepEqual([ins.body._id, ins.body._key, ins.body.new.a], ['d/k', 'k', 1]);
  const got = await c.call('GET', `/_db/${db}/_api/document/d/k`);
  assert.deepEqual([got.status, got.body.o], [200, { x: 1 }]);
  const upd = await c.call('PATCH', `/_db/${db}/_api/document/d/k?returnNew=true&returnOld=true`, { o: { y: 2 } });
  assert.deepEqual([upd.body.old.o, upd.body.new.o], [{ x: 1 }, { x: 1, y: 2 }]);
  assert.equal(upd.body._oldRev, ins.body._rev);
  const rep = await c.call('PUT', `/_db/${db}/_api/document/d/k?returnNew=true`, { b: 2 });
  assert.deepEqual(Object.keys(rep.body.new).sort(), ['_id', '_key', '_rev', 'b']);
  const stale = await c.call('PATCH', `/_db/${db}/_api/document/d/k`, { c: 3 }, { 'if-match': ins.body._rev });
  assert.deepEqual([stale.status, stale.body.errorNum], [412, 1200]);
  assert.equal((await c.call('DELETE', `/_db/${db}/_api/document/d/k`)).status, 202);
  const gone = await c.call('GET', `/_db/${db}/_api/document/d/k`);
  assert.deepEqual([gone.status, gone.body.errorNum], [404, 1202]);
  const badKey = await c.call('POST', `/_db/${db}/_api/document/d`, { _key: 'no spaces' });
  assert.deepEqual([badKey.status, badKey.body.errorNum], [400, 1221]);
});

test('array bodies: each element succeeds or fails on its own, errors counted in x-arango-error-codes', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('many'), { d: null });
  const r = await c.call('POST', `/_db/${db}/_api/document/d`, [{ _key: 'a' }, { _key: 'a' }, { _key: 'b' }]);
  assert.equal(r.status, 202);
  assert.equal(r.body[1].errorNum, 1210);
  assert.equal(r.body[2]._key, 'b');
  assert.deepEqual(JSON.parse(r.headers.get('x-arango-error-codes')), { 1210: 1 });
  const upd = await c.call('PATCH', `/_db/${db}/_api/document/d`, [{ _key: 'a', v: 1 }, { _key: 'zz', v: 1 }, { v: 2 }]);
  assert.deepEqual(upd.body.map((x) => x.errorNum || null), [null, 1202, 1226]);
  const all = await c.query(db, 'FOR x IN d SORT x._key RETURN [x._key, x.v]');
  assert.deepEqual(all.result, [['a', 1], ['b', null]]);
});

test('overwriteMode: conflict (default), ignore, replace, update', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('ow'), { d: null });
  await c.call('POST', `/_db/${db}/_api/document/d`, { _key: 'k', a: 1, b: 1 });
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/d`, { _key: 'k' })).body.errorNum, 1210);
  const ign = await c.call('POST', `/_db/${db}/_api/document/d?overwriteMode=ignore`, { _key: 'k', a: 9 });
  assert.equal(ign.status, 202);
  const upd = await c.call('POST', `/_db/${db}/_api/document/d?overwriteMode=update&returnNew=true&returnOld=true`, { _key: 'k', a: 2 });
  assert.deepEqual([upd.body.old.a, upd.body.new.a, upd.body.new.b], [1, 2, 1]);
  const rep = await c.call('POST', `/_db/${db}/_api/document/d?overwriteMode=replace&returnNew=true`, { _key: 'k', a: 3 });
  assert.deepEqual([rep.body.new.a, rep.body.new.b], [3, undefined]);
});

test('unique indexes are enforced on every write (1210, HTTP 409)', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('uniq'), { runs: null });
  const idx = await c.call('POST', `/_db/${db}/_api/index?collection=runs`, { type: 'persistent', name: 'runs_id', fields: ['id'], unique: true });
  assert.deepEqual([idx.status, idx.body.isNewlyCreated, idx.body.unique], [201, true, true]);
  assert.equal((await c.call('POST', `/_db/${db}/_api/index?collection=runs`, { type: 'persistent', name: 'runs_id', fields: ['id'], unique: true })).status, 200);
  await c.call('POST', `/_db/${db}/_api/document/runs`, { id: 1 });
  const dup = await c.call('POST', `/_db/${db}/_api/document/runs`, { id: 1 });
  assert.deepEqual([dup.status, dup.body.errorNum], [409, 1210]);
  assert.match(dup.body.errorMessage, /unique constraint violated - in index runs_id of type persistent over 'id'/);
  // Through AQL, and by an update that moves a document onto a taken value.
  const q = await c.call('POST', `/_db/${db}/_api/cursor`, { query: 'INSERT { id: 1 } INTO runs' });
  assert.deepEqual([q.status, q.body.errorNum], [409, 1210]);
  await c.call('POST', `/_db/${db}/_api/document/runs`, { _key: 'two', id: 2 });
  const move = await c.call('PATCH', `/_db/${db}/_api/document/runs/two`, { id: 1 });
  assert.equal(move.body.errorNum, 1210);
  // Non-sparse: a missing attribute indexes as null, and null may occur once.
  await c.call('POST', `/_db/${db}/_api/document/runs`, { other: true });
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/runs`, { other: true })).body.errorNum, 1210);
  // Creating a unique index over data that breaks it fails.
  const db2 = await c.database(dbName('uniq2'), { t: null });
  await c.call('POST', `/_db/${db2}/_api/document/t`, [{ v: 1 }, { v: 1 }]);
  const late = await c.call('POST', `/_db/${db2}/_api/index?collection=t`, { type: 'persistent', fields: ['v'], unique: true });
  assert.equal(late.body.errorNum, 1210);
});

test('sparse unique indexes leave out documents with null or missing attributes', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('sparse'), { runs: null });
  await c.call('POST', `/_db/${db}/_api/index?collection=runs`, { type: 'persistent', name: 'runs_idem', fields: ['idem_key'], unique: true, sparse: true });
  const three = await c.call('POST', `/_db/${db}/_api/document/runs`, [{ idem_key: null }, {}, { idem_key: null }]);
  assert.ok(three.body.every((x) => !x.error), JSON.stringify(three.body));
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/runs`, { idem_key: 'k' })).status, 202);
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/runs`, { idem_key: 'k' })).body.errorNum, 1210);
  // Over two attributes, a document is left out when either one is null.
  await c.call('POST', `/_db/${db}/_api/index?collection=runs`, { type: 'persistent', fields: ['a', 'b'], unique: true, sparse: true });
  const pairs = await c.call('POST', `/_db/${db}/_api/document/runs`, [{ a: 1, b: null }, { a: 1, b: null }, { a: 1, b: 2 }, { a: 1, b: 2 }]);
  assert.deepEqual(pairs.body.map((x) => x.errorNum || 0), [0, 0, 0, 1210]);
});

test('edges need valid _from and _to (1233)', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('edges'), { v: null, e: { type: 3 } });
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/e`, { _from: 'v/1', _to: 'v/2' })).status, 202);
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/e`, { _from: 'v/1' })).body.errorNum, 1233);
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/e`, { _from: 'nope', _to: 'v/1' })).body.errorNum, 1233);
});

test('the draft-4 validator: keywords and refusals of unusable rules', () => {
  const rule = {
    type: 'object', required: ['id', 'state'], additionalProperties: false,
    properties: {
      id: { type: 'integer', minimum: 1 }, state: { enum: ['ready', 'done'] }, tags: { type: 'array', items: { type: 'string' }, uniqueItems: true },
      nested: { $ref: '#/definitions/N' }, either: { anyOf: [{ type: 'string' }, { type: 'null' }] }, one: { oneOf: [{ minimum: 0 }, { maximum: 10 }] },
      name: { type: 'string', pattern: '^[a-z]+$', maxLength: 5 }, ratio: { type: 'number', exclusiveMaximum: true, maximum: 1 },
    },
    definitions: { N: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] } },
  };
  draft4.compile(rule);
  const ok = (d) => draft4.validate(rule, d).ok;
  assert.ok(ok({ _key: 'k', _rev: 'r', id: 1, state: 'ready' }), 'system attributes are invisible to the rule');
  assert.ok(!ok({ id: 1 }));
  assert.ok(!ok({ id: 0, state: 'ready' }));
  assert.ok(!ok({ id: 1.5, state: 'ready' }));
  assert.ok(!ok({ id: 1, state: 'napping' }));
  assert.ok(!ok({ id: 1, state: 'ready', extra: 1 }));
  assert.ok(!ok({ id: 1, state: 'ready', tags: ['a', 'a'] }));
  assert.ok(!ok({ id: 1, state: 'ready', nested: {} }));
  assert.ok(ok({ id: 1, state: 'ready', nested: { x: 1 }, either: null, name: 'abc', ratio: 0.5 }));
  assert.ok(!ok({ id: 1, state: 'ready', one: 5 }), 'oneOf: both branches match 5');
  assert.ok(!ok({ id: 1, state: 'ready', ratio: 1 }));
  assert.ok(!ok({ id: 1, state: 'ready', name: 'toolong' }));
  for (const bad of [{ type: 'int' }, { required: [] }, { properties: { a: true } }, { $ref: 'http://x/y' }, { uniqueItems: {} }, { minLength: -1 }]) {
    assert.throws(() => draft4.compile(bad), (e) => e.errorNum === 1621, JSON.stringify(bad));
  }
  assert.deepEqual(draft4.compile({ properties: { k: { const: 'x' } } }).ignored, ['rule.properties.k.const']);
});

test('collection schemas are enforced on every write by level (1620, HTTP 400)', async () => {
  const c = ctx.client;
  const rule = { type: 'object', required: ['state'], properties: { state: { enum: ['ready', 'done'] } } };
  const schema = (level) => ({ rule, level, message: `a ${level} job does not match its schema` });
  const db = await c.database(dbName('schema'), {
    strict: { schema: schema('strict') }, moderate: { schema: schema('moderate') }, fresh: { schema: schema('new') }, off: { schema: schema('none') },
  });
  const bad = await c.call('POST', `/_db/${db}/_api/document/strict`, { state: 'napping' });
  assert.deepEqual([bad.status, bad.body.errorNum, bad.body.errorMessage], [400, 1620, 'a strict job does not match its schema']);
  const viaAql = await c.call('POST', `/_db/${db}/_api/cursor`, { query: 'INSERT { state: 1 } INTO strict' });
  assert.deepEqual([viaAql.status, viaAql.body.errorNum], [400, 1620]);
  await c.call('POST', `/_db/${db}/_api/document/strict`, { _key: 'k', state: 'ready' });
  assert.equal((await c.call('PATCH', `/_db/${db}/_api/document/strict/k`, { state: 'bad' })).body.errorNum, 1620);
  assert.equal((await c.call('PATCH', `/_db/${db}/_api/document/strict/k`, { state: 'done' })).status, 202);
  // moderate: a document that was already invalid may change; a valid one may not become invalid.
  await c.call('PUT', `/_db/${db}/_api/collection/moderate/properties`, { schema: null });
  await c.call('POST', `/_db/${db}/_api/document/moderate`, [{ _key: 'bad', state: 'x' }, { _key: 'good', state: 'ready' }]);
  await c.call('PUT', `/_db/${db}/_api/collection/moderate/properties`, { schema: schema('moderate') });
  assert.equal((await c.call('PATCH', `/_db/${db}/_api/document/moderate/bad`, { other: 1 })).status, 202);
  assert.equal((await c.call('PATCH', `/_db/${db}/_api/document/moderate/good`, { state: 'x' })).body.errorNum, 1620);
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/moderate`, { state: 'x' })).body.errorNum, 1620);
  // new: only inserts are validated; none: nothing.
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/fresh`, { state: 'x' })).body.errorNum, 1620);
  await c.call('POST', `/_db/${db}/_api/document/fresh`, { _key: 'k', state: 'ready' });
  assert.equal((await c.call('PATCH', `/_db/${db}/_api/document/fresh/k`, { state: 'x' })).status, 202);
  assert.equal((await c.call('POST', `/_db/${db}/_api/document/off`, { state: 'x' })).status, 202);
  // A rule that is not draft 4 is refused when the collection is made.
  const refused = await c.call('POST', `/_db/${db}/_api/collection`, { name: 'x', schema: { rule: { properties: { a: true } }, level: 'strict' } });
  assert.deepEqual([refused.status, refused.body.errorNum], [400, 1621]);
});

test('integers beyond 2^53 are refused loudly rather than rounded', async () => {
  const c = ctx.client;
  const db = await c.database(dbName('bigint'), { d: null });
  const r = await fetch(`${ctx.server.url}/_db/${db}/_api/document/d`, {
    method: 'POST', headers: { authorization: `bearer ${c.token}`, 'content-type': 'application/json' },
    body: '{"n": 9007199254740993, "s": "12345678901234567890"}',
  });
  const body = await r.json();
  assert.deepEqual([r.status, body.errorNum], [501, 9]);
  assert.match(body.errorMessage, /9007199254740993/);
  const ok = await c.call('POST', `/_db/${db}/_api/document/d`, { n: 9007199254740991, s: '12345678901234567890' });
  assert.equal(ok.status, 202);
});

test('a large request body is scanned without running out of stack', async () => {
  const { server, client } = await start();
  try {
    const name = await client.database(dbName('large'), { c: null });
    const big = 'x\\"y'.repeat(5 * 1024 * 1024);
    const r = await client.query(name, 'INSERT { s: @s, n: 9007199254740991 } INTO c RETURN LENGTH(NEW.s)', { s: big });
    assert.equal(r.error, undefined, JSON.stringify(r.error && r.error.body));
    assert.deepEqual(r.result, [big.length]);
    const refused = await client.query(name, 'RETURN @n', { n: 1, s: `${big}"` }, { n: 12345678901234567890 });
    assert.equal(refused.error.body.errorNum, 9);
  } finally {
    await server.close();
  }
});
