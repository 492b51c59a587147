// EXPLAIN: which index a FOR + FILTER + SORT over a collection uses and
// whether a SortNode remains, by the documented rule of lib/aql/explain.js
// (ArangoDB's SortedIndexAttributeMatcher: a sparse index serves a filter
// only when it covers all of its fields, and a sort only when every field is
// known not to be null).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { start, dbName } = require('./helpers');

let ctx;
let db;
test.before(async () => {
  ctx = await start();
  db = await ctx.client.database(dbName('explain'), { jobs: null, plain: null });
  const idx = (coll, body) => ctx.client.call('POST', `/_db/${db}/_api/index?collection=${coll}`, Object.assign({ type: 'persistent' }, body));
  await idx('jobs', { name: 'jobs_id', fields: ['id'], unique: true });
  await idx('jobs', { name: 'jobs_ready', fields: ['ready_elf', 'rank', 'id'], sparse: true });
  await idx('jobs', { name: 'jobs_run', fields: ['run', 'state'] });
  await idx('plain', { name: 'plain_ready', fields: ['ready_elf', 'rank', 'id'] });
});
test.after(() => ctx.server.close());

async function plan(query, bindVars) {
  const r = await ctx.client.call('POST', `/_db/${db}/_api/explain`, { query, bindVars: bindVars || {} });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const nodes = r.body.plan.nodes;
  const index = nodes.find((n) => n.type === 'IndexNode');
  return {
    index: index ? index.indexes[0].name : null,
    scan: nodes.some((n) => n.type === 'EnumerateCollectionNode'),
    sort: nodes.some((n) => n.type === 'SortNode'),
    body: r.body,
  };
}

const CLAIM_LOOP = (coll, extra) => `FOR j IN ${coll}
  FILTER j.ready_elf == @elf${extra || ''}
  SORT j.ready_elf, j.rank, j.id
  FILTER j.state == "ready" AND j.task IN @tasks
  LIMIT @max
  RETURN j`;

test('a non-sparse ready index serves the claim loop: no collection scan, no sort step', async () => {
  const p = await plan(CLAIM_LOOP('plain'), { elf: 'e', tasks: ['t'], max: 4 });
  assert.deepEqual([p.index, p.scan, p.sort], ['plain_ready', false, false]);
  assert.ok(p.body.plan.rules.includes('use-index-for-sort'));
});

test('the sparse ready index serves neither the filter nor the sort of that loop', async () => {
  // Sparse: the filter covers 1 of its 3 fields, and nothing proves rank and id non-null.
  const p = await plan(CLAIM_LOOP('jobs'), { elf: 'e', tasks: ['t'], max: 4 });
  assert.deepEqual([p.index, p.scan, p.sort], [null, true, true]);
  const choice = p.body.standin.indexChoices[0].candidates.find((c) => c.index === 'jobs_ready');
  assert.deepEqual([choice.usableForFilter, choice.servesSort, choice.coveredByFilter], [false, false, 1]);
});

test('explicit != null filters on every field let the sparse index serve the sort', async () => {
  const extra = ' AND j.ready_elf != null AND j.rank != null AND j.id != null';
  const p = await plan(CLAIM_LOOP('jobs', extra), { elf: 'e', tasks: ['t'], max: 4 });
  assert.deepEqual([p.index, p.sort], ['jobs_ready', false]);
});

test('other index choices: primary key, unique id, prefixes, directions', async () => {
  assert.equal((await plan('FOR j IN jobs FILTER j._key == @k RETURN j', { k: '1' })).index, 'primary');
  assert.equal((await plan('FOR j IN jobs FILTER j.id == @id RETURN j', { id: 1 })).index, 'jobs_id');
  assert.equal((await plan('FOR j IN jobs FILTER j.run == @r AND j.state IN ["ready", "claimed"] RETURN j', { r: 1 })).index, 'jobs_run');
  // Not a prefix of any index: a full scan.
  const state = await plan('FOR j IN jobs FILTER j.state == "ready" RETURN j');
  assert.deepEqual([state.index, state.scan], [null, true]);
  // Both directions at once cannot use the index order.
  const mixed = await plan('FOR p IN plain FILTER p.ready_elf == @e SORT p.rank ASC, p.id DESC RETURN p', { e: 'x' });
  assert.deepEqual([mixed.index, mixed.sort], ['plain_ready', true]);
  const desc = await plan('FOR p IN plain FILTER p.ready_elf == @e SORT p.rank DESC, p.id DESC RETURN p', { e: 'x' });
  assert.deepEqual([desc.index, desc.sort], ['plain_ready', false]);
  assert.equal(desc.body.plan.nodes.find((n) => n.type === 'IndexNode').reverse, true);
  // A range stops the prefix; a value computed in the query cannot feed a sparse index.
  const computed = await plan('LET e = CONCAT("a", "b") FOR j IN jobs FILTER j.ready_elf == e AND j.rank == 0 AND j.id > 0 RETURN j');
  assert.equal(computed.index, 'jobs_id', 'the range on id, not the sparse index');
  const constant = await plan('FOR j IN jobs FILTER j.ready_elf == "ab" AND j.rank == 0 AND j.id > 0 RETURN j');
  assert.equal(constant.index, 'jobs_ready');
});

test('explain checks the query like a run would', async () => {
  const r = await ctx.client.call('POST', `/_db/${db}/_api/explain`, { query: 'FOR j IN jobs FILTER j.id == @id RETURN j', bindVars: {} });
  assert.deepEqual([r.status, r.body.errorNum], [400, 1551]);
});
