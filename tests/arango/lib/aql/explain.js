// EXPLAIN: an execution plan naming, for each FOR over a collection, the index
// the optimizer would use and whether a SortNode remains. The index choice
// follows ArangoDB's own matching code, simplified to a documented rule:
//
//   Filter conditions (arangod/Indexes/SortedIndexAttributeMatcher.cpp):
//   the FILTERs of the loop that depend only on the loop variable and on
//   values known before the loop (they may follow a SORT: move-filters-up)
//   are split on AND. An index is usable for them when its fields, left to
//   right, are covered by conditions `v.field OP value` (OP: == IN < <= > >=;
//   the stand-in does not count !=, which narrows nothing), stopping after
//   the first field not covered by == or IN (analyzeConditions). A SPARSE
//   index is usable only if ALL its fields are covered that way
//   ("!idx->sparse() || attributesCovered == fields.size()"), and only by
//   conditions that cannot match null (Index::canUseConditionPart): == / IN
//   with a value known at compile time and not null; > / >= with such a
//   value; never < / <= with the attribute on the left.
//   Documented rule: https://docs.arangodb.com/3.11/index-and-search/indexing/index-utilization/
//
//   Sorting (SortedIndexAttributeMatcher::supportsSortCondition, SortCondition):
//   SORT v.a, v.b, ... (all attribute accesses, one direction for the
//   attributes not fixed by ==) is served by an index whose fields cover the
//   sort attributes in order, skipping fields fixed by == (coveredAttributes).
//   A SPARSE index serves a sort only if every one of its fields is known not
//   to be null from an explicit `v.field != null` or `v.field > null` filter
//   (SortCondition::onlyUsesNonNullSortAttributes, Condition::getNonNullAttributes).
//
//   Choice (the stand-in's simplification of ArangoDB's cost model): among
//   the indexes usable for the filter, prefer one that also serves the sort,
//   then more fields matched by == or IN, then more fields matched, then a
//   unique index, then definition order; with no usable filter index, an
//   index that fully serves the sort is used for it.
'use strict';

const { walkExpr, isConstant } = require('./parser');
const { constantValue, expressionsOf } = require('./checker');

const BLOCKING = new Set(['limit', 'collect', 'return', 'insert', 'update', 'replace', 'remove', 'upsert']);
const REVERSED = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==', '!=': '!=' };

/** `v.a.b` for the loop variable `v`: 'a.b'; otherwise null. */
function attributePath(e, variable) {
  const parts = [];
  while (e.type === 'attr') {
    parts.unshift(e.name);
    e = e.object;
  }
  if (e.type === 'ref' && e.variable === variable && parts.length) return parts.join('.');
  return null;
}

function references(e, vars) {
  let found = false;
  walkExpr(e, (n) => {
    if (n.type === 'ref' && vars.has(n.variable)) found = true;
    if (n.type === 'subquery') found = true;
  });
  return found;
}

function conjuncts(e) {
  if (e.type === 'binary' && e.op === 'AND') return [...conjuncts(e.left), ...conjuncts(e.right)];
  return [e];
}

/** The index-relevant conditions on `variable` in `exprs`. */
function conditionParts(exprs, variable, bindVars, laterVars) {
  const parts = [];
  for (const e of exprs) {
    for (const c of conjuncts(e)) {
      if (c.type !== 'binary') continue;
      let op = c.op;
      let path = attributePath(c.left, variable);
      let value = c.right;
      if (path === null && op !== 'IN') {
        path = attributePath(c.right, variable);
        value = c.left;
        op = REVERSED[op];
      }
      if (path === null || !op || op === 'NOT IN') continue;
      const self = new Set([variable, ...laterVars]);
      if (references(value, self)) continue;
      const known = isConstant(value);
      parts.push({ path, op, known, value: known ? constantValue(value, bindVars) : undefined });
    }
  }
  return parts;
}

function usableForSparse(p, nonNull) {
  if (p.op === '==' || p.op === 'IN') {
    if (!p.known) return false;
    if (p.op === 'IN') return Array.isArray(p.value) && p.value.every((x) => x !== null);
    return p.value !== null;
  }
  if (p.op === '>' || p.op === '>=') return p.known && p.value !== null && !(p.op === '>=' && p.value === null);
  if (p.op === '<' || p.op === '<=') return nonNull.has(p.path);
  return false;
}

function filterMatch(idx, parts, nonNull) {
  if (idx.type === 'ttl') return { covered: 0, equality: 0, supports: false };
  if (idx.type === 'edge') {
    const eq = parts.some((p) => (p.path === '_from' || p.path === '_to') && (p.op === '==' || p.op === 'IN'));
    return { covered: eq ? 1 : 0, equality: eq ? 1 : 0, supports: eq };
  }
  let covered = 0;
  let equality = 0;
  for (const field of idx.fields) {
    // `!=` narrows nothing (a full index range): it does not make an index usable.
    const ops = parts.filter((p) => p.op !== '!=' && (p.path === field || (idx.type === 'primary' && p.path === '_id'))
      && (!idx.sparse || usableForSparse(p, nonNull)));
    if (!ops.length) break;
    covered++;
    if (ops.some((p) => p.op === '==' || p.op === 'IN')) equality++;
    else break;
  }
  return { covered, equality, supports: covered > 0 && (!idx.sparse || covered === idx.fields.length) };
}

function sortMatch(idx, sort, constAttrs, nonNull) {
  if (!sort || idx.type === 'edge' || idx.type === 'ttl') return false;
  if (idx.sparse && !idx.fields.every((f) => nonNull.has(f))) return false;
  const fields = sort.fields;
  if (fields.some((f) => f.path === null)) return false;
  const dirs = fields.filter((f) => !constAttrs.has(f.path)).map((f) => f.ascending);
  if (dirs.some((d) => d !== dirs[0])) return false;
  let covered = 0;
  let pos = 0;
  for (let i = 0; i < idx.fields.length;) {
    if (pos >= fields.length) break;
    const f = fields[pos];
    if (f.path === idx.fields[i]) {
      pos++;
      covered++;
      i++;
    } else if (idx.fields.includes(f.path) && constAttrs.has(f.path)) {
      pos++;
      covered++;
    } else if (constAttrs.has(idx.fields[i])) {
      i++;
    } else break;
  }
  return covered >= fields.length;
}

/** Plans one FOR over a collection: { index, sortCovered, decisions }. */
function planFor(statements, at, collection, bindVars, outer) {
  const st = statements[at];
  const variable = st.variable;
  const filters = [];
  const later = [];
  let sort = null;
  for (let i = at + 1; i < statements.length; i++) {
    const s = statements[i];
    if (BLOCKING.has(s.kind)) break;
    if (s.kind === 'filter') {
      if (!references(s.expr, new Set(later))) filters.push(s);
    } else if (s.kind === 'sort') {
      if (!sort) {
        sort = {
          statement: s,
          fields: s.elements.map((el) => ({
            path: attributePath(el.expr, variable),
            ascending: el.ascending.type === 'value' ? el.ascending.value !== false : constantValue(el.ascending, bindVars) !== false,
          })),
        };
      }
    } else if (s.kind === 'let') {
      later.push(s.variable);
    } else if (s.kind === 'for' || s.kind === 'traversal') {
      later.push(...[s.variable, s.vertex, s.edge, s.path].filter(Boolean));
      if (sort === null) sort = false; // a SORT after an inner loop sorts the inner rows too
    }
  }
  const parts = conditionParts(filters.map((f) => f.expr), variable, bindVars, later);
  const nonNull = new Set(parts.filter((p) => (p.op === '!=' || p.op === '>') && p.known && p.value === null).map((p) => p.path));
  const constAttrs = new Set(parts.filter((p) => p.op === '==' && p.known).map((p) => p.path));
  const useSort = sort || null;
  const candidates = collection.indexes.map((idx, order) => {
    const f = filterMatch(idx, parts, nonNull);
    return { idx, order, filter: f, sort: sortMatch(idx, useSort, constAttrs, nonNull) };
  });
  const byFilter = candidates.filter((c) => c.filter.supports);
  let chosen = null;
  if (byFilter.length) {
    byFilter.sort((a, b) => (b.sort - a.sort) || (b.filter.equality - a.filter.equality) || (b.filter.covered - a.filter.covered)
      || ((b.idx.unique ? 1 : 0) - (a.idx.unique ? 1 : 0)) || (a.order - b.order));
    chosen = byFilter[0];
  } else if (useSort) {
    chosen = candidates.find((c) => c.sort) || null;
  }
  const decisions = candidates.map((c) => ({
    index: c.idx.name, fields: c.idx.fields, sparse: !!c.idx.sparse, coveredByFilter: c.filter.covered,
    usableForFilter: c.filter.supports, servesSort: c.sort,
  }));
  return { chosen, sort: useSort, sortCovered: !!(chosen && chosen.sort), decisions, conditions: parts };
}

/** The execution plan of `ast` (ArangoDB's explain shape, simplified). */
function explain(ast, db, bindVars) {
  let nextId = 1;
  const nodes = [];
  const rules = new Set();
  const collections = new Map();
  const standin = [];
  const add = (node) => {
    node.id = nextId++;
    node.dependencies = nodes.length ? [nodes[nodes.length - 1].id] : [];
    nodes.push(node);
    return node;
  };
  const collectionName = (c) => (c.type === 'collparam' ? bindVars['@' + c.name] : c.name);
  add({ type: 'SingletonNode' });
  const body = (b) => {
    const removedSorts = new Set();
    b.statements.forEach((s, at) => {
      for (const e of expressionsOf(s)) {
        walkExpr(e, (n) => {
          if (n.type === 'subquery') {
            add({ type: 'SubqueryStartNode' });
            body(n.body);
            add({ type: 'SubqueryEndNode' });
          }
        });
      }
      const variable = (v) => ({ id: v.id, name: v.name });
      switch (s.kind) {
        case 'for': {
          if (s.source.type !== 'collection' && s.source.type !== 'collparam') {
            add({ type: 'EnumerateListNode', outVariable: variable(s.variable) });
            break;
          }
          const name = collectionName(s.source);
          const c = db.collections.get(name);
          if (!collections.has(name)) collections.set(name, 'read');
          if (!c) {
            add({ type: 'EnumerateCollectionNode', collection: name, outVariable: variable(s.variable) });
            break;
          }
          const p = planFor(b.statements, at, c, bindVars);
          standin.push({ collection: name, variable: s.variable.name, candidates: p.decisions, chosen: p.chosen ? p.chosen.idx.name : null, sortRemoved: p.sortCovered });
          if (p.chosen) {
            rules.add('use-indexes');
            const ascending = p.sort ? p.sort.fields.every((f) => f.ascending) || p.sort.fields.length === 0 : true;
            add({
              type: 'IndexNode', collection: name, outVariable: variable(s.variable), indexes: [p.chosen.idx.describe(name)],
              ascending: p.sortCovered ? ascending : true, reverse: p.sortCovered ? !ascending : false,
              condition: p.conditions.filter((x) => p.chosen.idx.fields.includes(x.path)).map((x) => ({ attribute: x.path, operator: x.op })),
            });
            if (p.sortCovered) {
              rules.add('use-index-for-sort');
              removedSorts.add(p.sort.statement);
            }
          } else {
            add({ type: 'EnumerateCollectionNode', collection: name, outVariable: variable(s.variable), random: false });
          }
          break;
        }
        case 'traversal':
          add({ type: 'TraversalNode', vertexOutVariable: variable(s.vertex) });
          break;
        case 'let':
          add({ type: 'CalculationNode', outVariable: variable(s.variable) });
          break;
        case 'filter':
          add({ type: 'CalculationNode' });
          add({ type: 'FilterNode' });
          break;
        case 'sort':
          if (!removedSorts.has(s)) add({ type: 'SortNode', elements: s.elements.length, strategy: 'standard' });
          break;
        case 'limit':
          add({ type: 'LimitNode', offset: constantValue(s.offset, bindVars), limit: constantValue(s.count, bindVars) });
          break;
        case 'collect':
          add({ type: 'CollectNode' });
          break;
        case 'return':
          add({ type: 'ReturnNode' });
          break;
        default: {
          const name = collectionName(s.collection);
          collections.set(name, 'write');
          const type = { insert: 'InsertNode', update: 'UpdateNode', replace: 'ReplaceNode', remove: 'RemoveNode', upsert: 'UpsertNode' }[s.kind];
          add({ type, collection: name });
        }
      }
    });
  };
  body(ast.body);
  const isModificationQuery = [...collections.values()].includes('write');
  return {
    plan: {
      nodes, rules: [...rules], collections: [...collections].map(([name, type]) => ({ name, type })),
      variables: [], estimatedCost: nodes.length, estimatedNrItems: 1, isModificationQuery,
    },
    cacheable: !isModificationQuery, warnings: [], stats: { rulesExecuted: rules.size, rulesSkipped: 0, plansCreated: 1 },
    standin: { indexChoices: standin, rule: 'tests/arango/lib/aql/explain.js (documented index-selection rule)' },
  };
}

module.exports = { explain, planFor };
