// The AQL front end and evaluator, without a server: parsing, refusals of
// syntax outside AQL or outside the subset, and the documented semantics.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { parse } = require('../lib/aql/parser');
const { execute } = require('../lib/aql/evaluator');
const V = require('../lib/aql/values');
const { Store } = require('../lib/store/database');
const { Transaction } = require('../lib/store/transactions');
const { runQuery } = require('../lib/query');

/** A database with `docs` ({ collection: [documents] }, edge collections named *_e). */
async function fixture(docs) {
  const store = new Store({ log: () => {} });
  const db = store.createDatabase({ name: 'd' });
  for (const [name, list] of Object.entries(docs || {})) {
    db.createCollection({ name, type: name.endsWith('_e') ? 3 : 2 });
    const t = new Transaction(store, db, 'document', { write: [name] });
    await t.begin(0);
    for (const d of list) t.insert(name, d, {});
    t.commit();
  }
  return { store, db };
}

/** Runs `text` as the server does (parse, check, execute in a transaction); its result. */
async function run(text, bindVars, docs) {
  const { store, db } = docs && docs.store ? docs : await fixture(docs);
  const server = { store, options: { requireWith: true, queryLockTimeoutS: 0, queryDelayMs: 0 }, transactions: {} };
  const out = await runQuery(server, db, { query: text, bindVars: bindVars || {} }, null);
  return out.result;
}

function refuses(text, num, pattern) {
  assert.throws(() => parse(text), (e) => {
    assert.equal(e.errorNum, num, `${text}: ${e.message}`);
    if (pattern) assert.match(e.message, pattern);
    return true;
  });
}

test('reserved keywords are not names unless quoted (1501)', () => {
  refuses('FOR d IN docs RETURN d.sort', 1501, /unexpected SORT declaration/);
  refuses('RETURN { filter: 1 }', 1501, /FILTER declaration/);
  refuses('LET in = 1 RETURN in', 1501);
  refuses('FOR d IN docs RETURN d.with', 1501);
  refuses('FOR d IN docs RETURN d.desc', 1501);
  // Quoted, or through brackets, they are names; COUNT, KEEP, OPTIONS are not reserved.
  parse('FOR d IN `filter` RETURN d.`sort`');
  parse('FOR d IN docs RETURN d["sort"]');
  parse('LET count = 1 LET keep = 2 LET options = 3 RETURN [count, keep, options]');
});

test('syntax errors name the place and what was expected', () => {
  refuses('FOR d IN docs FILTER d.a == 1', 1501, /unexpected end of query string.*position 1:/);
  refuses('RETURN 1 RETURN 2', 1501, /unexpected RETURN declaration, expecting end of query string/);
});

test('statements outside the stand-in subset are refused naming the construct (9)', () => {
  refuses('FOR d IN docs WINDOW { preceding: 1 } AGGREGATE s = SUM(d.x) RETURN s', 9, /WINDOW/);
  refuses('FOR d IN view SEARCH d.x == 1 RETURN d', 9, /SEARCH/);
  refuses("FOR v IN OUTBOUND SHORTEST_PATH 'a/1' TO 'a/2' e RETURN v", 9, /SHORTEST_PATH/);
  refuses('UPSERT FILTER CURRENT.a == 1 INSERT {} UPDATE {} IN c', 9, /UPSERT FILTER/);
  refuses('RETURN LEVENSHTEIN_DISTANCE("a", "b")', 9, /LEVENSHTEIN_DISTANCE/);
  refuses('RETURN MY::FUNC(1)', 9, /user-defined/);
  refuses('RETURN NO_SUCH_FUNCTION(1)', 1540, /NO_SUCH_FUNCTION/);
  refuses('RETURN LENGTH(1, 2)', 1541, /LENGTH/);
  refuses('RETURN 9007199254740993', 9, /2\^53/);
});

test('DISTINCT is refused at the top level, variables may not be redeclared', () => {
  refuses('RETURN DISTINCT 1', 1501, /DISTINCT/);
  parse('FOR x IN [1, 1] RETURN DISTINCT x');
  refuses('FOR x IN a FOR x IN b RETURN x', 1511, /variable 'x' is assigned multiple times/);
  refuses('LET a = 1 LET a = 2 RETURN a', 1511);
  // Sibling subqueries have scopes of their own.
  parse('LET a = (FOR x IN [1] RETURN x) LET b = (FOR x IN [2] RETURN x) RETURN [a, b]');
  refuses('RETURN { nope }', 1512, /unknown variable 'nope' in object literal/);
  refuses('FOR x IN [1] COLLECT g = x AGGREGATE m = MAX(g) RETURN m', 1512);
  refuses('FOR x IN [1] COLLECT AGGREGATE m = x + 1 RETURN m', 1574);
  refuses('FOR x IN [1] COLLECT g = x KEEP nope RETURN g', 1501, /KEEP without 'INTO'|KEEP/);
});

test('OPTIONS must be an object known at compile time', () => {
  refuses('FOR x IN [1] INSERT { x } INTO c OPTIONS x', 1501, /OPTIONS/);
  refuses('FOR x IN [1] INSERT { x } INTO c OPTIONS { waitForSync: x == 1 }', 1575);
  parse('FOR x IN [1] INSERT { x } INTO c OPTIONS { waitForSync: @sync, ignoreErrors: true }');
});

test('operator precedence follows grammar.y', async () => {
  assert.deepEqual(await run('RETURN 1 + 2 * 3'), [7]);
  assert.deepEqual(await run('RETURN 2 IN [1, 2] == true'), [true]);
  assert.deepEqual(await run('RETURN 1 < 2 == 2 < 3'), [true]);
  assert.deepEqual(await run('RETURN true || false && false'), [true]);
  // Unary NOT binds tighter than IN: (NOT 1) IN [2] is false IN [2].
  assert.deepEqual(await run('RETURN NOT 1 IN [2]'), [false]);
  assert.deepEqual(await run('RETURN 1 NOT IN [2]'), [true]);
  assert.deepEqual(await run('RETURN 1 == 1 ? "a" : "b"'), ['a']);
  assert.deepEqual(await run('RETURN null ?: "d"'), ['d']);
  assert.deepEqual(await run('RETURN -2 * -3'), [6]);
  assert.deepEqual(await run('RETURN 1..3'), [[1, 2, 3]]);
  assert.deepEqual(await run('RETURN 3..1'), [[3, 2, 1]]);
});

test('type and value order is null < bool < number < string < array < object', async () => {
  const ordered = [null, false, true, -1, 0, 2.5, '', '0', 'a', 'b', [], [0], [1, 2], [2], {}, { a: 1 }];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      assert.equal(Math.sign(V.compare(ordered[i], ordered[j])), Math.sign(i - j), `${JSON.stringify(ordered[i])} vs ${JSON.stringify(ordered[j])}`);
    }
  }
  assert.equal(V.compare({}, { a: null }), 0);
  assert.equal(V.compare({ b: 1 }, { a: 0 }), -1);
  assert.deepEqual(await run('FOR x IN [{}, [], "s", 1, true, null] SORT x RETURN x'), [null, true, 1, 's', [], {}]);
  assert.deepEqual(await run('RETURN [null == null, null < 0, "10" < "9", [1, 2] < [2], 1 == "1"]'), [[true, true, true, true, false]]);
});

test('arithmetic converts operands and divides by zero to null with a warning', async () => {
  assert.deepEqual(await run('RETURN [null + 1, "2" + 3, true + true, [4] + 1, "x" + 1]'), [[1, 5, 2, 5, 1]]);
  const { store, db } = await fixture({});
  const t = new Transaction(store, db, 'query', {});
  await t.begin(0);
  const out = execute(parse('RETURN 1 / 0'), t, {}, {});
  assert.deepEqual(out.result, [null]);
  assert.equal(out.warnings[0].code, 1562);
});

test('FOR, FILTER, SORT, LIMIT have pipeline semantics', async () => {
  const docs = { c: [{ _key: 'a', n: 3, g: 'x' }, { _key: 'b', n: 1, g: 'y' }, { _key: 'c', n: 2, g: 'x' }] };
  assert.deepEqual(await run('FOR d IN c SORT d.n RETURN d._key', {}, docs), ['b', 'c', 'a']);
  assert.deepEqual(await run('FOR d IN c SORT d.g DESC, d.n ASC RETURN d._key', {}, docs), ['b', 'c', 'a']);
  assert.deepEqual(await run('FOR d IN c FILTER d.n > @min SORT d.n LIMIT 1, 5 RETURN d.n', { min: 1 }, docs), [3]);
  // LIMIT under nested FORs limits the whole stream.
  assert.deepEqual(await run('FOR a IN [1, 2] FOR b IN [1, 2, 3] LIMIT 2 RETURN [a, b]'), [[1, 1], [1, 2]]);
  assert.deepEqual(await run('FOR x IN [3, 1, 3] RETURN DISTINCT x'), [3, 1]);
  assert.deepEqual(await run('FOR x IN [1, 2, 3] FILTER x != 2 LET y = x * 10 RETURN y'), [10, 30]);
});

test('COLLECT groups, counts, aggregates and collects INTO', async () => {
  const docs = { c: [{ g: 'x', n: 1 }, { g: 'y', n: 5 }, { g: 'x', n: 3 }, { g: null, n: 2 }] };
  assert.deepEqual(await run('FOR d IN c COLLECT g = d.g RETURN g', {}, docs), [null, 'x', 'y']);
  assert.deepEqual(await run('FOR d IN c COLLECT g = d.g WITH COUNT INTO n RETURN [g, n]', {}, docs), [[null, 1], ['x', 2], ['y', 1]]);
  assert.deepEqual(await run('FOR d IN c COLLECT g = d.g AGGREGATE s = SUM(d.n), m = MAX(d.n), k = LENGTH(1) RETURN [g, s, m, k]', {}, docs),
    [[null, 2, 2, 1], ['x', 4, 3, 2], ['y', 5, 5, 1]]);
  assert.deepEqual(await run('FOR d IN c COLLECT g = d.g INTO grp = d.n RETURN [g, grp]', {}, docs), [[null, [2]], ['x', [1, 3]], ['y', [5]]]);
  assert.deepEqual(await run('FOR d IN c FILTER d.g == "y" COLLECT g = d.g INTO grp RETURN grp[0].d.n', {}, docs), [5]);
  assert.deepEqual(await run('FOR d IN c COLLECT WITH COUNT INTO n RETURN n', {}, docs), [4]);
  assert.deepEqual(await run('FOR d IN c FILTER false COLLECT WITH COUNT INTO n RETURN n', {}, docs), [0]);
  assert.deepEqual(await run('FOR d IN c COLLECT AGGREGATE lo = MIN(d.n), avg = AVERAGE(d.n) RETURN [lo, avg]', {}, docs), [[1, 2.75]]);
  // After COLLECT the loop variable is gone: the name now means a collection (1203 here).
  await assert.rejects(run('FOR d IN c COLLECT g = d.g RETURN d', {}, docs), (e) => e.errorNum === 1203);
});

test('attribute access, expansion and subqueries', async () => {
  const doc = { a: { b: [{ c: 1, k: 'p' }, { c: 2, k: 'q' }, { c: 3, k: 'p' }] } };
  assert.deepEqual(await run('RETURN @d.a.b[*].c', { d: doc }), [[1, 2, 3]]);
  assert.deepEqual(await run('RETURN @d.a.b[* FILTER CURRENT.k == "p" RETURN CURRENT.c * 10]', { d: doc }), [[10, 30]]);
  assert.deepEqual(await run('RETURN @d.a.b[* LIMIT 1, 1].c', { d: doc }), [[2]]);
  assert.deepEqual(await run('RETURN [[1, [2]], [3]][**]'), [[1, [2], 3]]);
  assert.deepEqual(await run('RETURN [@d.a.b[-1].c, @d.a["b"][0].k, @d.nope.x, @d.a.@p]', { d: doc, p: 'b' }), [[3, 'p', null, doc.a.b]]);
  assert.deepEqual(await run('LET xs = (FOR x IN 1..3 FILTER x > 1 RETURN x) RETURN LENGTH(xs)'), [2]);
  assert.deepEqual(await run('RETURN LENGTH(FOR x IN 1..4 RETURN x)'), [4]);
  assert.deepEqual(await run('RETURN [1, 2, 3] ALL > 0'), [true]);
  assert.deepEqual(await run('RETURN [[] ANY == 1, [] ALL == 1, [1, 2] NONE == 3, [1, 2] ANY IN [2]]'), [[false, true, true, true]]);
  assert.deepEqual(await run('RETURN ["ab" LIKE "a%", "ab" LIKE "_", "ab" NOT LIKE "b%", "ab" =~ "^a", "ab" !~ "^b"]'), [[true, false, true, true, true]]);
});

test('functions of the subset', async () => {
  const r = await run(`RETURN [
    LENGTH([1, 2]), LENGTH("héllo"), LENGTH({ a: 1 }), FIRST([]), LAST([1, 2]), NTH([1, 2], 1), PUSH([1], 1, true),
    APPEND([1], [2, 3]), UNIQUE([1, 1, 2]), UNION([1], [2]), MINUS([1, 2, 3], [2]), INTERSECTION([1, 2], [2, 3]),
    FLATTEN([1, [2, [3]]]), POSITION([1, 2], 2, true), SLICE([1, 2, 3, 4], 1, 2), SORTED([3, 1]), REVERSE("abc"),
    MERGE({ a: 1 }, { b: 2 }), UNSET({ a: 1, b: 2 }, "a"), KEEP({ a: 1, b: 2 }, ["a"]), HAS({ a: null }, "a"),
    ATTRIBUTES({ b: 1, a: 2 }, false, true), VALUES({ a: 1 }), ZIP(["a"], [1]), IS_NULL(null), IS_ARRAY([]),
    IS_OBJECT({}), IS_STRING(""), IS_NUMBER(1), TO_NUMBER("12"), TO_STRING(1.5), TO_BOOL([]), TO_ARRAY(null),
    NOT_NULL(null, 2), FIRST_DOCUMENT(1, { a: 1 }), CONCAT("a", 1, null, "b"), CONCAT_SEPARATOR("-", "a", "b"),
    SUBSTRING("hello", 1, 3), LOWER("AB"), UPPER("ab"), CONTAINS("hello", "ll"), SPLIT("a,b", ","),
    MIN([3, null, 1]), MAX([1, 3]), SUM([1, 2]), AVERAGE([1, 2]), FLOOR(1.5), CEIL(1.2), ROUND(-2.50), ABS(-1),
    SHA256("abc"), MD5("abc"), COUNT([1]), SORTED_UNIQUE([2, 1, 2]), ROUND(2.5), ROUND(-2.51)
  ]`);
  assert.deepEqual(r[0], [
    2, 5, 1, null, 2, 2, [1], [1, 2, 3], [1, 2], [1, 2], [1, 3], [2], [1, 2, [3]], 1, [2, 3], [1, 3], 'cba',
    { a: 1, b: 2 }, { b: 2 }, { a: 1 }, true, ['a', 'b'], [1], { a: 1 }, true, true, true, true, true, 12, '1.5', true, [],
    2, { a: 1 }, 'a1b', 'a-b', 'ell', 'ab', 'AB', true, ['a', 'b'], 1, 3, 3, 1.5, 1, 2, -2, 1,
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', '900150983cd24fb0d6963f7d28e17f72', 1, [1, 2], 3, -3,
  ]);
  const before = Date.now();
  const [now] = await run('RETURN DATE_NOW()');
  assert.ok(now >= before && now <= Date.now());
});

test('data modification: INSERT, UPDATE, REPLACE, REMOVE, UPSERT with NEW and OLD', async () => {
  const f = await fixture({ c: [{ _key: 'a', n: 1, o: { x: 1, y: 2 } }] });
  assert.deepEqual(await run('INSERT { _key: "b", n: 2 } INTO c RETURN NEW.n', {}, f), [2]);
  assert.deepEqual(await run('UPDATE "a" WITH { o: { x: 9 }, z: null } IN c RETURN [OLD.o, NEW.o, HAS(NEW, "z")]', {}, f), [[{ x: 1, y: 2 }, { x: 9, y: 2 }, true]]);
  assert.deepEqual(await run('UPDATE "a" WITH { o: { x: 5 }, z: null } IN c OPTIONS { mergeObjects: false, keepNull: false } RETURN [NEW.o, HAS(NEW, "z")]', {}, f), [[{ x: 5 }, false]]);
  assert.deepEqual(await run('REPLACE { _key: "a", only: 1 } IN c RETURN UNSET(NEW, "_id", "_rev")', {}, f), [{ _key: 'a', only: 1 }]);
  assert.deepEqual(await run('FOR k IN ["a", "b"] REMOVE k IN c RETURN OLD._key', {}, f), ['a', 'b']);
  assert.deepEqual(await run('UPSERT { name: "u" } INSERT { name: "u", n: 1 } UPDATE { n: OLD.n + 1 } IN c RETURN [OLD, NEW.n]', {}, f), [[null, 1]]);
  assert.deepEqual(await run('UPSERT { name: "u" } INSERT { name: "u", n: 1 } UPDATE { n: OLD.n + 1 } IN c RETURN [OLD.n, NEW.n]', {}, f), [[1, 2]]);
  await assert.rejects(run('INSERT { _key: "k" } INTO c RETURN OLD', {}, f), (e) => e.errorNum === 1512);
  await assert.rejects(run('UPDATE "nope" WITH {} IN c', {}, f), (e) => e.errorNum === 1202);
  assert.deepEqual(await run('UPDATE "nope" WITH {} IN c OPTIONS { ignoreErrors: true } RETURN 1', {}, f), []);
  await assert.rejects(run('INSERT { _key: "a b" } INTO c', {}, f), (e) => e.errorNum === 1221);
  await assert.rejects(run('INSERT 1 INTO c', {}, f), (e) => e.errorNum === 1227);
});

test('graph traversals follow edges by direction, depth and uniqueness', async () => {
  const f = await fixture({
    v: [{ _key: '1' }, { _key: '2' }, { _key: '3' }, { _key: '4' }],
    g_e: [{ _from: 'v/1', _to: 'v/2' }, { _from: 'v/2', _to: 'v/3' }, { _from: 'v/1', _to: 'v/3' }, { _from: 'v/3', _to: 'v/1' }],
  });
  const keys = (r) => r.map((x) => x);
  assert.deepEqual(keys(await run('WITH v FOR x IN 1..1 OUTBOUND "v/1" g_e RETURN x._key', {}, f)), ['2', '3']);
  assert.deepEqual(keys(await run('WITH v FOR x IN 1..1 INBOUND "v/3" g_e SORT x._key RETURN x._key', {}, f)), ['1', '2']);
  assert.deepEqual(keys(await run('WITH v FOR x IN 0..1 ANY "v/4" g_e RETURN x._key', {}, f)), ['4']);
  assert.deepEqual(keys(await run('WITH v FOR x, e, p IN 2..2 OUTBOUND "v/1" g_e RETURN CONCAT_SEPARATOR(">", p.vertices[*]._key)', {}, f)),
    ['1>2>3', '1>3>1']);
  assert.deepEqual(keys(await run('WITH v FOR x IN 1..5 OUTBOUND "v/1" g_e OPTIONS { order: "bfs", uniqueVertices: "global" } RETURN x._key', {}, f)),
    ['2', '3']);
  assert.deepEqual(keys(await run('WITH v FOR x IN 1..3 OUTBOUND "v/1" g_e PRUNE x._key == "2" OPTIONS { uniqueVertices: "path" } RETURN x._key', {}, f)),
    ['2', '3']);
  // Without WITH the vertex collection is unknown to the traversal (error 1521, as on clusters).
  await assert.rejects(run('FOR x IN 1..1 OUTBOUND "v/1" g_e RETURN x', {}, f), (e) => e.errorNum === 1521 && /WITH v/.test(e.message));
});
