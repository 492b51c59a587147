// The static checker: the rules a real ArangoDB server enforces on a query
// before running it, each with the source it comes from. The stand-in server
// runs it on every query (and refuses the first violation with the real error
// number); check.js runs it over query texts without a server.
//
// The 1579 rules mirror arangod/Aql/Ast.cpp Ast::validateAndOptimize, which
// walks the AST in statement order with subqueries hoisted in front of the
// statement that contains them (grammar.y turns every subquery into a LET
// placed before its statement), keeping:
//   * hasSeenAnyWriteNode: set after any INSERT/UPDATE/REPLACE/REMOVE/UPSERT;
//     from then on a call of a document-reading function (DOCUMENT, ...) or a
//     traversal is error 1579;
//   * writeCollectionsSeen: a collection written once may not appear again
//     in the query (read by FOR, or written a second time): error 1579;
//   * collectionsFirstSeen: a collection may not be written in a subquery
//     deeper than where the query first read it: error 1579.
'use strict';

const { withMessage } = require('../errors');
const { walkExpr, isConstant } = require('./parser');
const functions = require('./functions');
const { collectionOf } = require('./traversal');

const SOURCES = {
  astValidate: 'arangod/Aql/Ast.cpp, Ast::validateAndOptimize (https://github.com/arangodb/arangodb/blob/3.11/arangod/Aql/Ast.cpp)',
  restrictions: 'https://docs.arangodb.com/3.11/aql/data-queries/#restrictions',
  updateDocs: 'https://docs.arangodb.com/3.11/aql/high-level-operations/update/ ("Only a single UPDATE statement per collection is allowed per AQL query, and it cannot be followed by read or write operations that access the same collection, by traversal operations, or AQL functions that can read documents")',
  withDocs: 'https://docs.arangodb.com/3.11/aql/high-level-operations/with/ (clusters and --query.require-with refuse traversals over undeclared vertex collections)',
  bindDocs: 'https://docs.arangodb.com/3.11/aql/fundamentals/bind-parameters/ and lib/Basics/errors.dat (1551, 1552, 1553)',
  keywords: 'https://docs.arangodb.com/3.11/aql/fundamentals/syntax/#keywords and arangod/Aql/grammar.y',
  variables: 'https://docs.arangodb.com/3.11/aql/fundamentals/syntax/#variable-names and arangod/Aql/grammar.y (reference, let_element)',
  limit: 'arangod/Aql/ExecutionPlan.cpp, ExecutionPlan::fromNodeLimit',
  dataSource: 'arangod/Aql/grammar.y, rule reference (a name that is not a variable is a collection; Ast::createNodeDataSource fails with 1203)',
  operand: 'lib/Basics/errors.dat, ERROR_QUERY_COLLECTION_USED_IN_EXPRESSION (1568)',
};

const MODIFICATIONS = new Set(['insert', 'update', 'replace', 'remove', 'upsert']);

/** Expression roots of a statement, in the order ArangoDB visits them. */
function expressionsOf(s) {
  switch (s.kind) {
    case 'for':
      return s.source.type === 'collection' || s.source.type === 'collparam' ? [s.options] : [s.source, s.options];
    case 'traversal':
      return [s.min, s.max, s.start, s.graph && s.graph.type !== 'value' ? s.graph : null, s.prune, s.options];
    case 'let':
    case 'filter':
    case 'return':
      return [s.expr];
    case 'sort':
      return s.elements.flatMap((e) => [e.expr, e.ascending]);
    case 'limit':
      return [s.offset, s.count];
    case 'collect':
      return [...s.groups.map((g) => g.expr), ...s.aggregates.map((a) => a.fn), s.into && s.into.expr, s.options];
    case 'insert':
      return [s.doc, s.options];
    case 'update':
    case 'replace':
      return [s.key, s.doc, s.options];
    case 'remove':
      return [s.key, s.options];
    case 'upsert':
      return [s.search, s.insert, s.update, s.options];
    default:
      return [];
  }
}

/** Subqueries directly contained in `exprs` (not those inside them). */
function subqueries(exprs) {
  const out = [];
  for (const e of exprs) walkExpr(e, (n) => (n.type === 'subquery' ? out.push(n) : undefined));
  return out;
}

/** Every statement of a body and of its subqueries, in hoisted order. */
function eachStatement(body, f, level = 0) {
  for (const s of body.statements) {
    for (const sq of subqueries(expressionsOf(s))) eachStatement(sq.body, f, level + 1);
    f(s, level);
  }
}

/**
 * Checks `ast` against the rules. `env`:
 *   bindVars: object (values known) | null; bindNames: names supplied (check.js)
 *   collections: Map name -> { type: 2|3 } | null (unknown)
 *   graphs: Map name -> { edgeDefinitions, orphanCollections } | null
 *   edgeDefinitions: { edgeCollection: { from: [...], to: [...] } } (check.js)
 * Calls `report(violation)` for each violation; returns an analysis of the
 * query (collections read and written, exclusive writes, WITH names).
 */
function check(ast, env, report) {
  const violation = (num, message, rule, source) => report({ errorNum: num, message, rule, source });
  const collections = env.collections || null;
  const bindVars = env.bindVars || null;
  const supplied = bindVars ? new Set(Object.keys(bindVars)) : new Set((env.bindNames || []).map(String));

  // ---- bind parameters (docs: bind parameters; errors.dat 1551/1552/1553) ----
  const declared = new Set();
  for (const [name, info] of ast.params) {
    const key = info.collection ? '@' + name : name;
    declared.add(key);
    if (!supplied.has(key)) {
      violation(1551, `AQL: no value specified for declared bind parameter '${key}' (while parsing)`, 'bind-parameter-missing', SOURCES.bindDocs);
    } else if (info.collection && bindVars && typeof bindVars[key] !== 'string') {
      violation(1553, `AQL: bind parameter '${key}' has an invalid value or type (while parsing)`, 'bind-parameter-type', SOURCES.bindDocs);
    }
  }
  for (const key of supplied) {
    if (!declared.has(key)) {
      violation(1552, `AQL: bind parameter '${key}' was not declared in the query (while parsing)`, 'bind-parameter-undeclared', SOURCES.bindDocs);
    }
  }

  const collectionName = (node) => {
    if (node.type === 'name' || node.type === 'collection') return node.name;
    if (node.type === 'collparam') {
      if (bindVars && typeof bindVars['@' + node.name] === 'string') return bindVars['@' + node.name];
      return '@@' + node.name;
    }
    return null;
  };
  const mustExist = (name, pos) => {
    if (!collections || name.startsWith('@@') || collections.has(name)) return true;
    violation(1203, `AQL: collection or view not found: ${name} (while parsing)`, 'collection-not-found', SOURCES.dataSource);
    return false;
  };

  // ---- names used as operands, unknown names, LIMIT ----
  const withNames = (ast.with || []).map(collectionName).filter(Boolean);
  for (const n of withNames) mustExist(n);
  const explicit = new Set();
  const reads = new Set();
  const writes = new Map();
  eachStatement(ast.body, (s) => {
    if (s.kind === 'for' && (s.source.type === 'collection' || s.source.type === 'collparam')) {
      const n = collectionName(s.source);
      if (mustExist(n)) {
        explicit.add(n);
        reads.add(n);
      }
    }
    if (s.kind === 'traversal') {
      for (const e of s.edges) {
        const n = e.name.type === 'value' ? e.name.value : e.name.type === 'collparam' ? collectionName(e.name)
          : bindVars && typeof bindVars[e.name.name] === 'string' ? bindVars[e.name.name] : null;
        if (n && mustExist(n)) {
          explicit.add(n);
          reads.add(n);
        }
      }
    }
    if (MODIFICATIONS.has(s.kind)) {
      const n = collectionName(s.collection);
      if (mustExist(n)) {
        explicit.add(n);
        const opts = s.options && isConstant(s.options) ? constantValue(s.options, bindVars) : {};
        const prev = writes.get(n) || { exclusive: false };
        writes.set(n, { exclusive: prev.exclusive || (opts && opts.exclusive === true) });
        if (s.kind === 'upsert') reads.add(n);
      }
    }
    if (s.kind === 'limit') {
      for (const [what, e] of [['offset', s.offset], ['count', s.count]]) {
        if (!isConstant(e)) {
          violation(1504, 'AQL: LIMIT offset/count values must be constant numeric values (while optimizing plan)', 'limit-constant', SOURCES.limit);
        } else if (bindVars) {
          const v = constantValue(e, bindVars);
          if (!(v === null && what === 'offset') && (typeof v !== 'number' || v < 0)) {
            violation(1504, `AQL: LIMIT ${what} value is not a number or out of range (while optimizing plan)`, 'limit-constant', SOURCES.limit);
          }
        }
      }
    }
    for (const e of expressionsOf(s)) {
      walkExpr(e, (n) => {
        if (n.type === 'collection') {
          if (!collections || !collections.has(n.name)) {
            violation(1203, `AQL: collection or view not found: ${n.name} (while parsing): '${n.name}' is neither a variable `
              + 'in scope here nor a collection (a variable used before it is defined, after a COLLECT that hides it, '
              + 'or a typo)', 'unknown-name', SOURCES.dataSource);
          } else {
            violation(1568, `AQL: collection '${n.name}' used as expression operand (while parsing)`, 'collection-operand', SOURCES.operand);
          }
        } else if (n.type === 'collparam') {
          violation(1568, `AQL: collection '@${n.name}' used as expression operand (while parsing)`, 'collection-operand', SOURCES.operand);
        } else if (n.type === 'call' && n.collection) {
          if (mustExist(n.collection) && n.name !== 'DOCUMENT') {
            explicit.add(n.collection);
            reads.add(n.collection);
          }
        }
      });
    }
  });

  // ---- access after data modification (Ast::validateAndOptimize) ----
  const state = { anyWrite: false, writeSeen: new Set(), firstSeen: new Map() };
  const see = (name, level) => {
    if (!state.firstSeen.has(name)) state.firstSeen.set(name, level);
    if (state.writeSeen.has(name)) {
      violation(1579, `AQL: access after data-modification by collection '${name}' (while optimizing ast)`, 'read-after-write',
        `${SOURCES.astValidate}; ${SOURCES.updateDocs}`);
    }
  };
  eachStatement(ast.body, (s, level) => {
    if (s.kind === 'upsert') see(collectionName(s.collection), level + 1);
    if (s.kind === 'for' && (s.source.type === 'collection' || s.source.type === 'collparam')) see(collectionName(s.source), level);
    for (const e of expressionsOf(s)) {
      walkExpr(e, (n) => {
        if (n.type !== 'call') return;
        if (n.collection && n.name !== 'DOCUMENT') see(n.collection, level);
        if (state.anyWrite && functions.READS_DOCUMENTS.has(n.name)) {
          violation(1579, `AQL: access after data-modification by function ${n.name} (while optimizing ast)`, 'function-after-write',
            `${SOURCES.astValidate}; ${SOURCES.restrictions}`);
        }
      });
    }
    if (s.kind === 'traversal' && state.anyWrite) {
      violation(1579, 'AQL: access after data-modification by traversal (while optimizing ast)', 'traversal-after-write',
        `${SOURCES.astValidate}; ${SOURCES.restrictions}`);
    }
    if (MODIFICATIONS.has(s.kind)) {
      const name = collectionName(s.collection);
      if (state.writeSeen.has(name)) {
        violation(1579, `AQL: access after data-modification by collection '${name}' (while optimizing ast): a collection may be `
          + 'modified only once per query', 'write-twice', `${SOURCES.astValidate}; ${SOURCES.updateDocs}`);
      }
      if (!state.firstSeen.has(name)) state.firstSeen.set(name, level);
      state.anyWrite = true;
      state.writeSeen.add(name);
      if (state.firstSeen.get(name) < level) {
        violation(1579, `AQL: access after data-modification by collection '${name}' (while optimizing ast): it is written in a `
          + 'subquery but read at an outer level of the query', 'write-below-read', SOURCES.astValidate);
      }
    }
  });

  // ---- WITH for anonymous traversals (clusters; --query.require-with) ----
  const known = new Set([...withNames, ...explicit]);
  eachStatement(ast.body, (s) => {
    if (s.kind !== 'traversal' || s.graph) return;
    const needed = new Set();
    let undetermined = false;
    const start = s.start;
    let startValue;
    if (start.type === 'value') startValue = start.value;
    else if (start.type === 'param' && bindVars) startValue = bindVars[start.name];
    if (typeof startValue === 'string') {
      const c = collectionOf(startValue);
      if (c) needed.add(c);
    } else if (start.type === 'param' && !bindVars) {
      undetermined = true;
    }
    const defs = env.edgeDefinitions || null;
    for (const e of s.edges) {
      const n = e.name.type === 'value' ? e.name.value : null;
      const def = n && defs ? defs[n] : null;
      if (!def) {
        undetermined = true;
        continue;
      }
      const dir = e.direction || s.direction;
      if (dir === 'OUTBOUND' || dir === 'ANY') def.to.forEach((c) => needed.add(c));
      if (dir === 'INBOUND' || dir === 'ANY') def.from.forEach((c) => needed.add(c));
    }
    let reported = false;
    for (const c of needed) {
      if (!known.has(c)) {
        reported = true;
        violation(1521, `AQL: collection not known to traversal: '${c}'. please add 'WITH ${c}' as the first line in your AQL`,
          'traversal-with', SOURCES.withDocs);
      }
    }
    if (undetermined && !reported && !bindVars && withNames.length === 0) {
      violation(1521, 'AQL: an anonymous traversal (over edge collections, not GRAPH) without WITH: its vertex collections '
        + 'cannot be proven known to the query; declare them with WITH (clusters refuse the query otherwise)',
      'traversal-with', SOURCES.withDocs);
    }
  });

  return { reads, writes, withNames, explicit };
}

/** The value of a constant expression (literals and bind parameters). */
function constantValue(e, bindVars) {
  switch (e.type) {
    case 'value':
      return e.value;
    case 'param':
      return bindVars && Object.prototype.hasOwnProperty.call(bindVars, e.name) ? bindVars[e.name] : null;
    case 'array':
      return e.elements.map((x) => constantValue(x, bindVars));
    case 'object': {
      const o = {};
      for (const m of e.members) {
        const k = typeof m.key === 'string' ? m.key : constantValue(m.key, bindVars);
        o[String(k)] = constantValue(m.value, bindVars);
      }
      return o;
    }
    default:
      return null;
  }
}

/** Checks and throws the first violation as the ArangoError a server would answer. */
function checkOrThrow(ast, env) {
  const found = [];
  const analysis = check(ast, env, (v) => found.push(v));
  if (found.length) {
    // The order a server meets them in: names while parsing, then bind
    // parameters, then plan building, then Ast::validateAndOptimize.
    const rank = (v) => ({ 1203: 0, 1551: 1, 1553: 1, 1552: 2, 1568: 3, 1504: 4, 1579: 5, 1521: 6 })[v.errorNum] ?? 7;
    found.sort((a, b) => rank(a) - rank(b));
    const v = found[0];
    throw withMessage(v.errorNum, v.message, { rule: v.rule, source: v.source });
  }
  return analysis;
}

module.exports = { check, checkOrThrow, SOURCES, eachStatement, expressionsOf, constantValue };
