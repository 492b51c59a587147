// Each checker rule with a query that breaks it and one that does not.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse } = require('../lib/aql/parser');
const { check, checkOrThrow } = require('../lib/aql/checker');

const COLLECTIONS = new Map(['jobs', 'meta', 'events', 'results', 'users', 'deps'].map((n) => [n, { type: n === 'deps' ? 3 : 2 }]));

/** Violations of `text` ({ errorNum, rule, message, source }). */
function violations(text, env) {
  const out = [];
  const ast = parse(text);
  const names = [...ast.params].map(([n, i]) => (i.collection ? '@' + n : n));
  check(ast, Object.assign({ collections: COLLECTIONS, bindNames: names }, env || {}), (v) => out.push(v));
  return out;
}

function refused(text, num, rule, env) {
  const v = violations(text, env);
  assert.ok(v.some((x) => x.errorNum === num && x.rule === rule), `${text}\nexpected ${num} ${rule}, got ${JSON.stringify(v, null, 1)}`);
  const hit = v.find((x) => x.rule === rule);
  assert.ok(hit.source && hit.source.length > 10, 'each rule cites its source');
  return hit;
}

function accepted(text, env) {
  assert.deepEqual(violations(text, env), [], text);
}

test('rule: no document-reading function after a data modification (1579)', () => {
  const hit = refused('FOR i IN 1..2 INSERT { i } INTO events LET r = DOCUMENT(results, "1") RETURN r', 1579, 'function-after-write');
  assert.match(hit.message, /access after data-modification by function DOCUMENT/);
  assert.match(hit.source, /Ast\.cpp/);
  // In a later subquery, or in the final RETURN, it is just as refused.
  refused('LET a = (INSERT {} INTO events RETURN 1) RETURN DOCUMENT(results, "1")', 1579, 'function-after-write');
  refused('LET a = (INSERT {} INTO events RETURN 1) RETURN (FOR k IN ["1"] RETURN DOCUMENT(results, k))', 1579, 'function-after-write');
  // Before the modification it is allowed, and so is reading results with FOR.
  accepted('LET r = DOCUMENT(results, "1") INSERT { r } INTO events');
  accepted('FOR i IN 1..2 INSERT { i } INTO events LET r = (FOR x IN results FILTER x._key == "1" RETURN x) RETURN r');
});

test('rule: no read of a collection after the query modified it (1579)', () => {
  refused('LET u = (FOR j IN jobs UPDATE j WITH { x: 1 } IN jobs RETURN 1) FOR j IN jobs RETURN j', 1579, 'read-after-write');
  // Reading it before, in the same loop that updates it, is fine.
  accepted('FOR j IN jobs FILTER j.x == 0 UPDATE j WITH { x: 1 } IN jobs RETURN NEW');
  accepted('LET n = LENGTH(FOR j IN jobs RETURN 1) FOR m IN meta UPDATE m WITH { n } IN meta');
});

test('rule: a collection is modified at most once per query (1579)', () => {
  const hit = refused('LET a = (INSERT {} INTO events RETURN 1) LET b = (INSERT {} INTO events RETURN 1) RETURN 1', 1579, 'write-twice');
  assert.match(hit.message, /collection 'events'/);
  refused('FOR j IN jobs UPDATE j WITH { a: 1 } IN jobs UPDATE j WITH { b: 1 } IN jobs', 1579, 'write-twice');
  // Different collections may each be written once.
  accepted('LET a = (FOR j IN jobs UPDATE j WITH { a: 1 } IN jobs RETURN 1) LET b = (INSERT {} INTO events RETURN 1) RETURN 1');
});

test('rule: no write in a subquery below the level where the collection was first read (1579)', () => {
  refused('FOR j IN jobs LET u = (UPDATE j WITH { a: 1 } IN jobs RETURN 1) RETURN u', 1579, 'write-below-read');
  accepted('FOR j IN jobs UPDATE j WITH { a: 1 } IN jobs');
});

test('rule: no traversal after a data modification (1579)', () => {
  refused('WITH jobs INSERT {} INTO events FOR v IN 1..1 OUTBOUND "jobs/1" deps RETURN v', 1579, 'traversal-after-write');
  accepted('WITH jobs LET down = (FOR v IN 1..1 OUTBOUND "jobs/1" deps RETURN v._key) INSERT { down } INTO events');
});

test('rule: anonymous traversals declare their vertex collections with WITH (1521, enforced always)', () => {
  const env = { edgeDefinitions: { deps: { from: ['jobs'], to: ['jobs'] } } };
  const hit = refused('FOR v IN 1..5 OUTBOUND @start deps RETURN v._key', 1521, 'traversal-with', env);
  assert.match(hit.message, /WITH jobs/);
  refused('FOR v IN 1..5 OUTBOUND "jobs/1" deps RETURN v._key', 1521, 'traversal-with');
  // Without edge definitions and without WITH nothing proves the vertex collections are known.
  refused('FOR v IN 1..5 OUTBOUND @start deps RETURN v._key', 1521, 'traversal-with');
  accepted('WITH jobs FOR v IN 1..5 OUTBOUND @start deps RETURN v._key', env);
  // A collection the query uses explicitly is known too; named graphs need no WITH.
  accepted('FOR j IN jobs FOR v IN 1..1 OUTBOUND j deps RETURN v._key', env);
  accepted('FOR v IN 1..5 OUTBOUND "jobs/1" GRAPH "jobgraph" RETURN v._key');
});

test('rule: every bind parameter used is supplied and every supplied one is used (1551, 1552, 1553)', () => {
  const text = 'FOR j IN @@coll FILTER j.elf == @elf RETURN j';
  const missing = violations(text, { bindNames: ['@coll'] });
  assert.deepEqual(missing.map((v) => [v.errorNum, v.rule]), [[1551, 'bind-parameter-missing']]);
  assert.match(missing[0].message, /no value specified for declared bind parameter 'elf'/);
  const extra = violations(text, { bindNames: ['@coll', 'elf', 'max'] });
  assert.deepEqual(extra.map((v) => [v.errorNum, v.rule]), [[1552, 'bind-parameter-undeclared']]);
  assert.match(extra[0].message, /bind parameter 'max' was not declared/);
  // A collection parameter is bound as "@name" and must name a collection by a string.
  assert.deepEqual(violations(text, { bindNames: ['coll', 'elf'] }).map((v) => v.errorNum).sort(), [1551, 1552]);
  assert.deepEqual(violations(text, { bindVars: { '@coll': 7, elf: 'e' } }).map((v) => v.errorNum), [1553]);
  accepted(text, { bindNames: ['@coll', 'elf'] });
  accepted(text, { bindVars: { '@coll': 'jobs', elf: 'e' } });
});

test('rule: names that are neither variables nor collections (1203) and collections as operands (1568)', () => {
  const hit = refused('LET a = b LET b = 1 RETURN a', 1203, 'unknown-name');
  assert.match(hit.message, /'b' is neither a variable in scope here nor a collection/);
  refused('FOR x IN [1] COLLECT g = x RETURN x', 1203, 'unknown-name');
  refused('RETURN jobs', 1568, 'collection-operand');
  accepted('RETURN LENGTH(jobs)');
  accepted('RETURN DOCUMENT(jobs, "1")');
});

test('rule: LIMIT takes values known at compile time (1504)', () => {
  refused('FOR j IN jobs LET n = 2 LIMIT n RETURN j', 1504, 'limit-constant');
  accepted('FOR j IN jobs LIMIT @max RETURN j');
  assert.throws(() => checkOrThrow(parse('FOR j IN jobs LIMIT @max RETURN j'), { collections: COLLECTIONS, bindVars: { max: 'x' } }),
    (e) => e.errorNum === 1504);
});

test('the server reports the first violation in the order a server meets them', () => {
  const ast = parse('FOR i IN 1..2 INSERT { i } INTO events RETURN DOCUMENT(nope, @x)');
  assert.throws(() => checkOrThrow(ast, { collections: COLLECTIONS, bindVars: {} }), (e) => e.errorNum === 1203 && e.rule === 'collection-not-found');
  const ast2 = parse('FOR i IN 1..2 INSERT { i } INTO events RETURN DOCUMENT(results, @x)');
  assert.throws(() => checkOrThrow(ast2, { collections: COLLECTIONS, bindVars: {} }), (e) => e.errorNum === 1551);
  assert.throws(() => checkOrThrow(ast2, { collections: COLLECTIONS, bindVars: { x: '1' } }), (e) => e.errorNum === 1579);
});
