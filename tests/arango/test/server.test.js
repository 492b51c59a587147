// Authentication with expiring tokens, databases, collections, and the
// refusal of JavaScript transactions.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { start, Client, dbName, PASSWORD } = require('./helpers');

test('tokens expire by time; a fresh login works again', async () => {
  const { server, client } = await start({ tokenTtlMs: 300 });
  try {
    assert.equal((await client.call('GET', '/_api/version')).status, 200);
    await new Promise((r) => setTimeout(r, 400));
    const expired = await client.call('GET', '/_api/version');
    assert.equal(expired.status, 401);
    assert.deepEqual([expired.body.errorNum, expired.body.errorMessage], [11, 'not authorized to execute this request']);
    assert.equal(server.stats.expiredTokens, 1);
    await client.login();
    const again = await client.call('GET', '/_api/version');
    assert.equal(again.status, 200);
    assert.match(again.body.version, /^3\.11\./);
  } finally {
    await server.close();
  }
});

test('wrong passwords, forged tokens and missing credentials are 401', async () => {
  const { server, client } = await start();
  try {
    const anon = new Client(server.url);
    const wrong = await anon.raw('POST', '/_open/auth', { username: 'root', password: 'nope' }, {});
    assert.deepEqual([wrong.status, wrong.body.errorNum], [401, 401]);
    assert.equal((await anon.call('GET', '/_api/version')).status, 401);
    const forged = client.token.slice(0, -2) + 'xx';
    assert.equal((await anon.raw('GET', '/_api/version', undefined, { authorization: `bearer ${forged}` })).status, 401);
    const basic = Buffer.from(`root:${PASSWORD}`).toString('base64');
    assert.equal((await anon.raw('GET', '/_api/version', undefined, { authorization: `basic ${basic}` })).status, 200);
    // The health check needs no credentials; every answer says it is ArangoDB.
    const avail = await anon.raw('GET', '/_admin/server/availability', undefined, {});
    assert.equal(avail.status, 200);
    assert.equal(avail.headers.get('server'), 'ArangoDB');
  } finally {
    await server.close();
  }
});

test('creating a database that exists is 1207 (HTTP 409), not 1229', async () => {
  const { server, client } = await start();
  try {
    const name = dbName('dup');
    assert.equal((await client.call('POST', '/_api/database', { name })).status, 201);
    const again = await client.call('POST', '/_api/database', { name });
    assert.deepEqual([again.status, again.body.errorNum], [409, 1207]);
    const bad = await client.call('POST', '/_api/database', { name: '1-bad name' });
    assert.deepEqual([bad.status, bad.body.errorNum], [400, 1229]);
    const missing = await client.call('GET', '/_db/nope_db/_api/database/current');
    assert.deepEqual([missing.status, missing.body.errorNum], [404, 1228]);
    const current = await client.call('GET', `/_db/${name}/_api/database/current`);
    assert.equal(current.body.result.name, name);
    const notSystem = await client.call('POST', `/_db/${name}/_api/database`, { name: 'x' });
    assert.deepEqual([notSystem.status, notSystem.body.errorNum], [403, 1230]);
    assert.equal((await client.call('DELETE', `/_api/database/${name}`)).status, 200);
    assert.equal((await client.call('DELETE', `/_api/database/${name}`)).body.errorNum, 1228);
  } finally {
    await server.close();
  }
});

test('racing creators of one database: exactly one succeeds, the others get 1207', async () => {
  const { server, client } = await start();
  try {
    const name = dbName('race');
    const answers = await Promise.all([1, 2, 3].map(() => client.call('POST', '/_api/database', { name })));
    assert.deepEqual(answers.map((a) => a.status).sort(), [201, 409, 409]);
    assert.ok(answers.filter((a) => a.status === 409).every((a) => a.body.errorNum === 1207));
  } finally {
    await server.close();
  }
});

test('collections: duplicates are 1207, unknown ones 1203, bad names 1208', async () => {
  const { server, client } = await start();
  try {
    const db = await client.database(dbName('coll'), { a: null, e: { type: 3 } });
    const dup = await client.call('POST', `/_db/${db}/_api/collection`, { name: 'a' });
    assert.deepEqual([dup.status, dup.body.errorNum], [409, 1207]);
    const bad = await client.call('POST', `/_db/${db}/_api/collection`, { name: 'no spaces' });
    assert.equal(bad.body.errorNum, 1208);
    const missing = await client.call('GET', `/_db/${db}/_api/collection/nope`);
    assert.deepEqual([missing.status, missing.body.errorNum], [404, 1203]);
    assert.equal((await client.call('GET', `/_db/${db}/_api/collection/e`)).body.type, 3);
    const q = await client.call('POST', `/_db/${db}/_api/cursor`, { query: 'FOR x IN nope RETURN x' });
    assert.deepEqual([q.status, q.body.errorNum], [404, 1203]);
  } finally {
    await server.close();
  }
});

test('JavaScript transactions are refused as with --javascript.transactions false (403, error 11)', async () => {
  const { server, client } = await start();
  try {
    const db = await client.database(dbName('js'), { a: null });
    const r = await client.call('POST', `/_db/${db}/_api/transaction`, {
      collections: { write: ['a'] }, action: 'function () { return 1; }',
    });
    assert.deepEqual([r.status, r.body.errorNum], [403, 11]);
    assert.match(r.body.errorMessage, /javascript\.transactions/);
    assert.equal(server.stats.jsTransactionsRefused, 1);
  } finally {
    await server.close();
  }
});

test('requests are served concurrently', async () => {
  const { server, client } = await start();
  try {
    const db = await client.database(dbName('conc'), { a: null });
    // A Stream Transaction holds an exclusive lock; a query that needs the
    // lock waits, while other requests keep being answered meanwhile.
    const t = await client.begin(db, { exclusive: ['a'] });
    const waiting = client.call('POST', `/_db/${db}/_api/cursor`, { query: 'INSERT { w: 1 } INTO a' });
    const started = Date.now();
    for (let i = 0; i < 5; i++) assert.equal((await client.call('GET', '/_api/version')).status, 200);
    assert.ok(Date.now() - started < 1000);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await client.call('PUT', `/_db/${db}/_api/transaction/${t.body.result.id}`)).status, 200);
    assert.equal((await waiting).status, 201);
  } finally {
    await server.close();
  }
});

test('injected faults: an answer lost after the commit, one lost before the work, a slow one', async () => {
  const { server, client } = await start();
  try {
    const db = await client.database(dbName('faults'), { a: null });
    const bad = await client.call('POST', '/_admin/standin/faults', { path: '(', mode: 'drop-after' });
    assert.equal(bad.body.errorNum, 10);
    await client.call('POST', '/_admin/standin/faults', { method: 'POST', path: '/_api/document/a$', mode: 'drop-after' });
    await assert.rejects(client.call('POST', `/_db/${db}/_api/document/a`, { _key: 'after' }));
    // The write happened although its answer was lost: a retry must cope with that.
    assert.equal((await client.call('GET', `/_db/${db}/_api/document/a/after`)).status, 200);
    assert.equal((await client.call('POST', `/_db/${db}/_api/document/a`, { _key: 'after' })).body.errorNum, 1210);
    await client.call('POST', '/_admin/standin/faults', { method: 'POST', path: '/_api/document/a$', mode: 'drop-before' });
    await assert.rejects(client.call('POST', `/_db/${db}/_api/document/a`, { _key: 'before' }));
    assert.equal((await client.call('GET', `/_db/${db}/_api/document/a/before`)).status, 404);
    await client.call('POST', '/_admin/standin/faults', { path: '/_api/version$', mode: 'delay', delayMs: 300 });
    const t0 = Date.now();
    assert.equal((await client.call('GET', '/_api/version')).status, 200);
    assert.ok(Date.now() - t0 >= 280);
    assert.equal(server.stats.faultsInjected, 3);
  } finally {
    await server.close();
  }
});

test('a server whose clock is off: DATE_NOW() runs --clock-offset-ms ahead', async () => {
  const { server, client } = await start({ clockOffsetMs: 2 * 3600 * 1000 });
  try {
    const name = await client.database(dbName('clock'));
    const before = Date.now();
    const r = await client.query(name, 'RETURN DATE_NOW()');
    const after = Date.now();
    const [now] = r.result;
    assert.ok(now >= before + 7200000 && now <= after + 7200000, `${now} is not two hours after ${before}..${after}`);
  } finally {
    await server.close();
  }
});
