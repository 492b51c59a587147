// The AQL evaluator: runs a parsed (and checked) query over a data access
// object, row by row with AQL's pipeline semantics (each operation applies to
// the stream of rows produced so far, so a LIMIT under nested FORs limits the
// whole stream). Data-modification operations go through the data access
// object, which enforces conflicts, unique indexes and schemas.
//
// The data access object (`db`) provides, synchronously:
//   collection(name) -> { name, type: 2|3 }          (throws 1203)
//   scan(name) -> documents                           document(name, key) -> doc|null
//   count(name) -> number                             edges(name, vertexId, 'out'|'in') -> edges
//   graph(name) -> { edgeDefinitions, orphanCollections }
//   insert(name, doc, opts) -> { new, old }           update(name, key, patch, opts) -> { new, old }
//   replace(name, key, doc, opts) -> { new, old }     remove(name, key, opts) -> { old }
//   knownToTraversal(collection) -> bool   (the WITH rule of clusters, see traversal.js)
// and, optionally, candidates(name, attribute, values) -> Set of keys | null
// and scanKeys(name, keys) -> documents: a FOR over a collection followed by
// FILTERs of `v.attribute == value` or `v.attribute IN values` then reads
// only the documents that can match (as an index would), instead of all of
// them. The FILTERs still run, so results are the same; only the cost is
// not proportional to the collection any more (the conformance suite's
// claims over thousands of jobs).
'use strict';

const V = require('./values');
const functions = require('./functions');
const { traverse } = require('./traversal');
const { walkExpr } = require('./ast');
const { withMessage, arangoError, ArangoError } = require('../errors');

class Context {
  constructor(db, bindVars, options) {
    this.db = db;
    this.bindVars = bindVars || {};
    this.options = options || {};
    this.warnings = [];
    this.stats = { writesExecuted: 0, writesIgnored: 0, scannedFull: 0, scannedIndex: 0, filtered: 0, httpRequests: 0 };
    this.fullCount = null;
    this.oldUnavailable = new Set();
  }
  warn(code, message) {
    if (this.options.failOnWarning) throw withMessage(code, message);
    if (this.warnings.length < (this.options.maxWarningCount || 10)) this.warnings.push({ code, message });
  }
  document(collection, key) {
    try {
      return this.db.document(collection, key);
    } catch (e) {
      if (e.errorNum === 1203) {
        this.warn(1203, `collection or view not found: ${collection}`);
        return null;
      }
      throw e;
    }
  }
  count(collection) {
    return this.db.count(collection);
  }
  param(name) {
    return Object.prototype.hasOwnProperty.call(this.bindVars, name) ? this.bindVars[name] : null;
  }
  collectionParam(name) {
    return this.param('@' + name);
  }
}

// ---- expressions ----

function evaluate(e, row, ctx) {
  return V.normalize(evalRaw(e, row, ctx));
}

function access(obj, name) {
  if (V.typeOf(obj) !== 'object') return null;
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : null;
}

function arithmetic(op, a, b, ctx) {
  const x = V.toNumber(a);
  const y = V.toNumber(b);
  switch (op) {
    case '+':
      return x + y;
    case '-':
      return x - y;
    case '*':
      return x * y;
    case '/':
      if (y === 0) {
        ctx.warn(1562, 'division by zero');
        return null;
      }
      return x / y;
    default:
      if (y === 0) {
        ctx.warn(1562, 'division by zero');
        return null;
      }
      return x % y;
  }
}

function compareOp(op, a, b) {
  switch (op) {
    case '==':
      return V.equals(a, b);
    case '!=':
      return !V.equals(a, b);
    case '<':
      return V.compare(a, b) < 0;
    case '<=':
      return V.compare(a, b) <= 0;
    case '>':
      return V.compare(a, b) > 0;
    case '>=':
      return V.compare(a, b) >= 0;
    case 'IN':
      return Array.isArray(b) && b.some((x) => V.equals(a, x));
    case 'NOT IN':
    case 'NOT_IN':
      return !(Array.isArray(b) && b.some((x) => V.equals(a, x)));
    default:
      throw withMessage(4, `unknown comparison ${op}`);
  }
}

function range(from, to) {
  const a = Math.trunc(V.toNumber(from));
  const b = Math.trunc(V.toNumber(to));
  const n = Math.abs(b - a) + 1;
  if (n > 10_000_000) throw withMessage(32, 'resource limit exceeded: range too large');
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = a <= b ? a + i : a - i;
  return out;
}

function evalRaw(e, row, ctx) {
  switch (e.type) {
    case 'value':
      return e.value;
    case 'param':
      return ctx.param(e.name);
    case 'collparam':
      throw arangoError(1568, ctx.collectionParam(e.name));
    case 'ref': {
      if (ctx.oldUnavailable.has(e.variable.id)) {
        throw withMessage(1512, 'OLD is only available when using INSERT with the overwrite option');
      }
      const v = row[e.variable.id];
      return v === undefined ? null : v;
    }
    case 'collection':
      throw arangoError(1568, e.name);
    case 'array':
      return e.elements.map((x) => evaluate(x, row, ctx));
    case 'object': {
      const out = {};
      for (const m of e.members) {
        let key = m.key;
        if (typeof key !== 'string') {
          const k = evaluate(key, row, ctx);
          if (k === null) continue;
          key = V.toString(k);
        }
        out[key] = evaluate(m.value, row, ctx);
      }
      return out;
    }
    case 'attr':
      return access(evaluate(e.object, row, ctx), e.name);
    case 'attrparam': {
      let obj = evaluate(e.object, row, ctx);
      const path = ctx.param(e.param.name);
      for (const p of Array.isArray(path) ? path : [path]) obj = access(obj, V.toString(p));
      return obj;
    }
    case 'index': {
      const obj = evaluate(e.object, row, ctx);
      const idx = evaluate(e.index, row, ctx);
      if (Array.isArray(obj)) {
        if (typeof idx !== 'number' && !(typeof idx === 'string' && idx !== '' && !Number.isNaN(Number(idx)))) return null;
        let i = Math.trunc(Number(idx));
        if (i < 0) i += obj.length;
        return i >= 0 && i < obj.length ? obj[i] : null;
      }
      if (V.typeOf(obj) === 'object') return access(obj, V.toString(idx));
      return null;
    }
    case 'expand':
      return expand(e, row, ctx);
    case 'passthru':
      return evaluate(e.expr, row, ctx);
    case 'call': {
      const def = functions.FUNCTIONS[e.name];
      const args = e.args.map((a) => evaluate(a, row, ctx));
      return def.impl(args, ctx, e);
    }
    case 'unary': {
      const v = evaluate(e.operand, row, ctx);
      if (e.op === 'NOT') return !V.truthy(v);
      const n = V.toNumber(v);
      return e.op === '-' ? -n : n;
    }
    case 'binary': {
      if (e.op === 'AND') {
        const l = evaluate(e.left, row, ctx);
        return V.truthy(l) ? evaluate(e.right, row, ctx) : l;
      }
      if (e.op === 'OR') {
        const l = evaluate(e.left, row, ctx);
        return V.truthy(l) ? l : evaluate(e.right, row, ctx);
      }
      const l = evaluate(e.left, row, ctx);
      const r = evaluate(e.right, row, ctx);
      if (['+', '-', '*', '/', '%'].includes(e.op)) return arithmetic(e.op, l, r, ctx);
      return compareOp(e.op, l, r);
    }
    case 'arraycmp': {
      const l = evaluate(e.left, row, ctx);
      const r = evaluate(e.right, row, ctx);
      if (!Array.isArray(l)) return false;
      const test = (x) => compareOp(e.op, x, r);
      if (e.quantifier === 'ALL') return l.every(test);
      if (e.quantifier === 'ANY') return l.some(test);
      return !l.some(test);
    }
    case 'ternary': {
      const c = evaluate(e.cond, row, ctx);
      if (V.truthy(c)) return e.then ? evaluate(e.then, row, ctx) : c;
      return evaluate(e.else, row, ctx);
    }
    case 'range':
      return range(evaluate(e.from, row, ctx), evaluate(e.to, row, ctx));
    case 'subquery':
      return runBody(e.body, row, ctx, false);
    default:
      throw withMessage(4, `cannot evaluate ${e.type}`);
  }
}

function expand(e, row, ctx) {
  const input = evaluate(e.object, row, ctx);
  if (!Array.isArray(input)) return [];
  let items = input;
  if (e.depth > 1) {
    for (let d = 1; d < e.depth; d++) items = items.flatMap((x) => (Array.isArray(x) ? x : [x]));
  }
  const it = e.iterator.id;
  let offset = 0;
  let count = Infinity;
  if (e.limit) {
    offset = V.toNumber(evaluate(e.limit.offset, row, ctx));
    count = V.toNumber(evaluate(e.limit.count, row, ctx));
  }
  const out = [];
  let seen = 0;
  for (const x of items) {
    const r = Object.assign({}, row, { [it]: x });
    if (e.filter && !V.truthy(evaluate(e.filter, r, ctx))) continue;
    if (seen++ < offset) continue;
    if (out.length >= count) break;
    let v = e.ret ? evaluate(e.ret, r, ctx) : x;
    if (!(e.tail.type === 'ref' && e.tail.variable === e.iterator)) v = evaluate(e.tail, Object.assign({}, row, { [it]: v }), ctx);
    out.push(v);
  }
  return out;
}

// ---- statements ----

/** Runs a statement list for one input row; the RETURN values. */
function runBody(body, parent, ctx, top) {
  let rows = [parent];
  let skipTo = -1;
  for (const [at, st] of body.statements.entries()) {
    if (at <= skipTo) continue;
    if (st.kind === 'for') {
      const plan = rows.length === 1 && !ctx.options.fullCount ? topKPlan(body.statements, at) : null;
      if (plan) {
        rows = topK(plan, rows[0], ctx, body.statements, at);
        skipTo = plan.end;
        continue;
      }
      rows = rows.flatMap((r) => forSource(st, r, ctx, body.statements, at).map((x) => Object.assign({}, r, { [st.variable.id]: x })));
      continue;
    }
    if (st.kind === 'return') {
      let values = rows.map((r) => evaluate(st.expr, r, ctx));
      if (st.distinct) {
        const seen = new Set();
        values = values.filter((v) => {
          const k = V.hashKey(v);
          if (seen.has(k)) return false;
          seen.add(k);
          return true;
        });
      }
      return values;
    }
    rows = step(st, rows, ctx, top, parent);
  }
  return [];
}

function step(st, rows, ctx, top, parent) {
  switch (st.kind) {
    case 'for':
      return rows.flatMap((r) => forSource(st, r, ctx).map((x) => Object.assign({}, r, { [st.variable.id]: x })));
    case 'traversal':
      return rows.flatMap((r) => traverse(st, r, ctx, evaluate));
    case 'let':
      return rows.map((r) => Object.assign({}, r, { [st.variable.id]: evaluate(st.expr, r, ctx) }));
    case 'filter': {
      const out = rows.filter((r) => V.truthy(evaluate(st.expr, r, ctx)));
      ctx.stats.filtered += rows.length - out.length;
      return out;
    }
    case 'sort':
      return sortRows(st, rows, ctx);
    case 'limit': {
      const offset = limitValue(st.offset, ctx, 'offset');
      const count = limitValue(st.count, ctx, 'count');
      if (top) ctx.fullCount = rows.length;
      return rows.slice(offset, offset + count);
    }
    case 'collect':
      return collect(st, rows, ctx, parent);
    case 'insert':
    case 'update':
    case 'replace':
    case 'remove':
    case 'upsert':
      return modify(st, rows, ctx);
    default:
      throw withMessage(4, `cannot run ${st.kind}`);
  }
}

function limitValue(e, ctx, what) {
  const v = evaluate(e, {}, ctx);
  if (v === null && what === 'offset') return 0;
  if (typeof v !== 'number' || v < 0) throw withMessage(1504, `LIMIT ${what} value is not a number or out of range`);
  return Math.trunc(v);
}

// Statements across which a FILTER after a FOR cannot move before it.
const BLOCKING = new Set(['limit', 'collect', 'return', 'insert', 'update', 'replace', 'remove', 'upsert']);
const narrowings = new WeakMap();

/** `v.attr` (a top-level attribute of the loop variable): 'attr', else null. */
function loopAttribute(e, variable) {
  if (e && e.type === 'attr' && e.object.type === 'ref' && e.object.variable === variable && typeof e.name === 'string') return e.name;
  return null;
}

function mentions(e, vars) {
  let found = false;
  walkExpr(e, (n) => {
    if ((n.type === 'ref' && vars.has(n.variable)) || n.type === 'subquery') found = true;
  });
  return found;
}

/**
 * The equality conditions on the loop variable of the FOR at `statements[at]`
 * that later FILTERs impose, each { attribute, op: '==' | 'IN', value }
 * (value: an expression of what is known before the loop); cached per FOR.
 */
function narrowing(statements, at) {
  const st = statements[at];
  if (narrowings.has(st)) return narrowings.get(st);
  const later = new Set([st.variable]);
  const out = [];
  for (let i = at + 1; i < statements.length; i++) {
    const s = statements[i];
    if (BLOCKING.has(s.kind)) break;
    if (s.kind === 'let') later.add(s.variable);
    else if (s.kind === 'for' || s.kind === 'traversal') [s.variable, s.vertex, s.edge, s.path].filter(Boolean).forEach((v) => later.add(v));
    else if (s.kind === 'filter') {
      const conjuncts = [];
      const split = (e) => (e.type === 'binary' && e.op === 'AND' ? (split(e.left), split(e.right)) : conjuncts.push(e));
      split(s.expr);
      for (const c of conjuncts) {
        const ops = { '==': '==', IN: 'IN', '<': '<', '<=': '<=', '>': '>', '>=': '>=' };
        const flipped = { '==': '==', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
        if (c.type !== 'binary' || !ops[c.op]) continue;
        let attribute = loopAttribute(c.left, st.variable);
        let value = c.right;
        let op = c.op;
        if (attribute === null && flipped[c.op]) {
          attribute = loopAttribute(c.right, st.variable);
          value = c.left;
          op = flipped[c.op];
        }
        if (attribute === null || mentions(value, later)) continue;
        out.push({ attribute, op, value });
      }
    }
  }
  narrowings.set(st, out);
  return out;
}

const topKPlans = new WeakMap();

/**
 * `FOR v IN coll FILTER* SORT v.a, v.b FILTER* LIMIT o, n` (the shape of a
 * claim): { filters, sort, limit, end } or null. Such a loop is run as an
 * index in sort order runs it: on a persistent index whose fields are the
 * loop's equalities then its sort attributes, walked in order
 * (Transaction.sortedScan); otherwise the documents are ordered by their
 * sort attributes in a heap, ties kept in scan order as sortRows keeps them.
 * Either way the FILTERs run on each document in that order until the LIMIT
 * is met: every FILTER is pure, so the rows are those of filtering first and
 * sorting after.
 */
function topKPlan(statements, at) {
  const st = statements[at];
  if (topKPlans.has(st)) return topKPlans.get(st);
  let plan = null;
  if (st.source.type === 'collection' || st.source.type === 'collparam') {
    const filters = [];
    let sort = null;
    for (let i = at + 1; i < statements.length; i++) {
      const s = statements[i];
      if (s.kind === 'filter') filters.push(s);
      else if (s.kind === 'sort' && sort === null) {
        if (!s.elements.every((el) => loopAttribute(el.expr, st.variable) !== null && el.ascending.type === 'value')) break;
        sort = s;
      } else if (s.kind === 'limit' && sort !== null) {
        plan = { filters, sort, limit: s, end: i, attributes: sort.elements.map((el) => loopAttribute(el.expr, st.variable)) };
        break;
      } else break;
    }
  }
  topKPlans.set(st, plan);
  return plan;
}

function topK(plan, row, ctx, statements, at) {
  const st = statements[at];
  const asc = plan.sort.elements.map((el) => {
    const d = evaluate(el.ascending, {}, ctx);
    return typeof d === 'string' ? d.toUpperCase() !== 'DESC' : V.truthy(d);
  });
  const offset = limitValue(plan.limit.offset, ctx, 'offset');
  const count = limitValue(plan.limit.count, ctx, 'count');
  const take = (docs) => {
    const out = [];
    let skipped = 0;
    for (const doc of docs) {
      if (out.length >= count) break;
      const r = Object.assign({}, row, { [st.variable.id]: doc });
      if (!plan.filters.every((f) => V.truthy(evaluate(f.expr, r, ctx)))) {
        ctx.stats.filtered++;
        continue;
      }
      if (skipped < offset) skipped++;
      else out.push(r);
    }
    return out;
  };
  // An index whose fields are the equalities then the sort: its order.
  if (typeof ctx.db.sortedScan === 'function' && asc.every((a) => a === asc[0])) {
    const name = st.source.type === 'collection' ? st.source.name : ctx.collectionParam(st.source.name);
    const equal = new Map();
    const bounds = [];
    for (const c of narrowing(statements, at)) {
      if (c.op === '==' && !equal.has(c.attribute)) equal.set(c.attribute, evaluate(c.value, row, ctx));
      // Bounds on the first sort attribute end the walk early, as an index
      // range would (documents past them cannot pass the FILTER).
      if (['<', '<=', '>', '>='].includes(c.op) && c.attribute === plan.attributes[0]) {
        bounds.push({ op: c.op, value: evaluate(c.value, row, ctx) });
      }
    }
    const docs = ctx.db.sortedScan(name, equal, plan.attributes, !asc[0], bounds);
    if (docs) {
      return take((function* counted() {
        for (const d of docs) {
          ctx.stats.scannedIndex++;
          yield d;
        }
      })());
    }
  }
  const docs = forSource(st, row, ctx, statements, at);
  const keys = docs.map((d) => plan.attributes.map((a) => (Object.prototype.hasOwnProperty.call(d, a) && d[a] !== undefined ? d[a] : null)));
  const before = (a, b) => {
    for (let k = 0; k < asc.length; k++) {
      const c = V.compare(keys[a][k], keys[b][k]);
      if (c !== 0) return asc[k] ? c < 0 : c > 0;
    }
    return a < b;
  };
  // A binary heap of document positions, smallest first.
  const heap = docs.map((_, i) => i);
  const down = (i, n) => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && before(heap[l], heap[m])) m = l;
      if (r < n && before(heap[r], heap[m])) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  };
  for (let i = Math.floor(heap.length / 2) - 1; i >= 0; i--) down(i, heap.length);
  function* inOrder() {
    let n = heap.length;
    while (n > 0) {
      const top = heap[0];
      heap[0] = heap[n - 1];
      n--;
      down(0, n);
      yield docs[top];
    }
  }
  return take(inOrder());
}

function forSource(st, row, ctx, statements, at) {
  const s = st.source;
  if (s.type === 'collection' || s.type === 'collparam') {
    const name = s.type === 'collection' ? s.name : ctx.collectionParam(s.name);
    const conditions = statements && typeof ctx.db.candidates === 'function' ? narrowing(statements, at) : [];
    let best = null;
    for (const c of conditions) {
      if (c.op !== '==' && c.op !== 'IN') continue;
      const v = evaluate(c.value, row, ctx);
      const values = c.op === '==' ? [v] : Array.isArray(v) ? v : [];
      const keys = ctx.db.candidates(name, c.attribute, values);
      if (keys && (best === null || keys.size < best.size)) best = keys;
    }
    if (best !== null) {
      const docs = ctx.db.scanKeys(name, best);
      ctx.stats.scannedIndex += docs.length;
      return docs;
    }
    const docs = ctx.db.scan(name);
    ctx.stats.scannedFull += docs.length;
    return docs;
  }
  const v = evaluate(s, row, ctx);
  if (Array.isArray(v)) return v;
  throw withMessage(1563, `collection or array expected as operand to FOR loop; you provided a value of type '${V.typeName(v)}'`);
}

function sortRows(st, rows, ctx) {
  const keyed = rows.map((r, i) => ({
    r,
    i,
    keys: st.elements.map((el) => evaluate(el.expr, r, ctx)),
  }));
  const asc = st.elements.map((el) => {
    const d = evaluate(el.ascending, {}, ctx);
    return typeof d === 'string' ? d.toUpperCase() !== 'DESC' : V.truthy(d);
  });
  keyed.sort((a, b) => {
    for (let k = 0; k < asc.length; k++) {
      const c = V.compare(a.keys[k], b.keys[k]);
      if (c !== 0) return asc[k] ? c : -c;
    }
    return a.i - b.i;
  });
  return keyed.map((x) => x.r);
}

function aggregate(fn, values) {
  const nonNull = values.filter((v) => v !== null);
  switch (fn) {
    case 'LENGTH':
    case 'COUNT':
      return values.length;
    case 'MIN':
      return nonNull.length ? nonNull.reduce((m, x) => (V.compare(x, m) < 0 ? x : m)) : null;
    case 'MAX':
      return nonNull.length ? nonNull.reduce((m, x) => (V.compare(x, m) > 0 ? x : m)) : null;
    case 'SUM':
      return nonNull.reduce((s, x) => s + V.toNumber(x), 0);
    case 'AVERAGE':
    case 'AVG':
      return nonNull.length ? nonNull.reduce((s, x) => s + V.toNumber(x), 0) / nonNull.length : null;
    case 'UNIQUE':
    case 'SORTED_UNIQUE':
    case 'COUNT_DISTINCT':
    case 'COUNT_UNIQUE': {
      const seen = new Map();
      for (const v of nonNull) if (!seen.has(V.hashKey(v))) seen.set(V.hashKey(v), v);
      const u = [...seen.values()];
      if (fn === 'SORTED_UNIQUE') return u.sort(V.compare);
      if (fn === 'UNIQUE') return u;
      return u.length;
    }
    case 'PUSH':
      return values;
    default:
      throw withMessage(9, `aggregate ${fn} is not implemented by the stand-in`);
  }
}

function collect(st, rows, ctx, parent) {
  const groups = new Map();
  for (const r of rows) {
    const values = st.groups.map((g) => evaluate(g.expr, r, ctx));
    const k = V.hashKey(values);
    let g = groups.get(k);
    if (!g) {
      g = { values, rows: [] };
      groups.set(k, g);
    }
    g.rows.push(r);
  }
  let list = [...groups.values()];
  if (st.groups.length === 0 && list.length === 0) list = [{ values: [], rows: [] }];
  list.sort((a, b) => V.compare(a.values, b.values));
  return list.map((g) => {
    const base = Object.assign({}, g.rows.length ? g.rows[0] : parent);
    st.groups.forEach((gr, i) => {
      base[gr.variable.id] = g.values[i];
    });
    for (const a of st.aggregates) {
      const arg = a.fn.args[0];
      const values = g.rows.map((r) => (arg ? evaluate(arg, r, ctx) : null));
      base[a.variable.id] = aggregate(a.fn.name, values);
    }
    if (st.countInto) base[st.countInto.id] = g.rows.length;
    if (st.into) {
      base[st.into.variable.id] = g.rows.map((r) => {
        if (st.into.expr) return evaluate(st.into.expr, r, ctx);
        const vars = st.keep || st.visible;
        const o = {};
        for (const v of vars) o[v.name] = r[v.id] === undefined ? null : r[v.id];
        return o;
      });
    }
    return base;
  });
}

// ---- data modification ----

function optionValues(st, ctx) {
  if (!st.options) return {};
  return evaluate(st.options, {}, ctx);
}

function targetCollection(st, ctx) {
  const c = st.collection;
  if (c.type === 'name') return c.name;
  const name = ctx.collectionParam(c.name);
  if (typeof name !== 'string') throw arangoError(1553, '@' + c.name);
  return name;
}

/** The document key an UPDATE/REPLACE/REMOVE key expression designates. */
function keyOf(v, kind) {
  if (typeof v === 'string') {
    if (v.includes('/')) throw withMessage(1221, `illegal document key: ${kind} takes a key, not a document identifier (${v})`);
    return { key: v, rev: null };
  }
  if (V.typeOf(v) === 'object') {
    if (typeof v._key !== 'string') throw arangoError(1226);
    return { key: v._key, rev: typeof v._rev === 'string' ? v._rev : null };
  }
  throw withMessage(1227, `invalid document type: the document or key of ${kind.toUpperCase()} must be an object or a string`);
}

function modify(st, rows, ctx) {
  const name = targetCollection(st, ctx);
  const opts = optionValues(st, ctx);
  const ignoreErrors = opts.ignoreErrors === true;
  const out = [];
  for (const r of rows) {
    try {
      const result = modifyOne(st, r, ctx, name, opts);
      ctx.stats.writesExecuted++;
      const next = Object.assign({}, r);
      if (st.old) next[st.old.id] = result.old === undefined ? null : result.old;
      if (st.new) next[st.new.id] = result.new === undefined ? null : result.new;
      out.push(next);
    } catch (e) {
      if (ignoreErrors && e instanceof ArangoError && e.errorNum !== 1200 && e.errorNum !== 18) {
        ctx.stats.writesIgnored++;
        continue;
      }
      throw e;
    }
  }
  if (st.kind === 'insert' && !(opts.overwrite || opts.overwriteMode)) ctx.oldUnavailable.add(st.old.id);
  return out;
}

function modifyOne(st, r, ctx, name, opts) {
  const db = ctx.db;
  switch (st.kind) {
    case 'insert': {
      const doc = evaluate(st.doc, r, ctx);
      if (V.typeOf(doc) !== 'object') throw arangoError(1227);
      return db.insert(name, doc, opts);
    }
    case 'update':
    case 'replace': {
      const doc = evaluate(st.doc, r, ctx);
      if (V.typeOf(doc) !== 'object') throw arangoError(1227);
      const { key, rev } = keyOf(st.key ? evaluate(st.key, r, ctx) : doc, st.kind);
      const o = Object.assign({}, opts, rev && opts.ignoreRevs === false ? { ifMatch: rev } : {});
      return st.kind === 'update' ? db.update(name, key, doc, o) : db.replace(name, key, doc, o);
    }
    case 'remove': {
      const { key, rev } = keyOf(evaluate(st.key, r, ctx), 'remove');
      return db.remove(name, key, Object.assign({}, opts, rev && opts.ignoreRevs === false ? { ifMatch: rev } : {}));
    }
    default: {
      const search = evaluate(st.search, r, ctx);
      if (V.typeOf(search) !== 'object') throw arangoError(1227);
      const found = db.scan(name).find((d) => Object.entries(search).every(([k, v]) => V.equals(access(d, k), v)));
      if (!found) {
        const doc = evaluate(st.insert, Object.assign({}, r, { [st.old.id]: null }), ctx);
        if (V.typeOf(doc) !== 'object') throw arangoError(1227);
        return Object.assign({ old: null }, db.insert(name, doc, opts));
      }
      const doc = evaluate(st.update, Object.assign({}, r, { [st.old.id]: found }), ctx);
      if (V.typeOf(doc) !== 'object') throw arangoError(1227);
      return st.replace ? db.replace(name, found._key, doc, opts) : db.update(name, found._key, doc, opts);
    }
  }
}

/** Runs a parsed query; its result rows, warnings, statistics and fullCount. */
function execute(ast, db, bindVars, options) {
  const ctx = new Context(db, bindVars, options);
  const result = runBody(ast.body, {}, ctx, true);
  return { result, warnings: ctx.warnings, stats: ctx.stats, fullCount: ctx.fullCount === null ? result.length : ctx.fullCount };
}

module.exports = { execute, evaluate, Context, runBody };
