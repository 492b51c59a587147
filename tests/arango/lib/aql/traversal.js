// Graph traversals: FOR v[, e[, p]] IN min..max OUTBOUND|INBOUND|ANY start
// edgeCollection(s) | GRAPH name [PRUNE cond] [OPTIONS {...}]
// (https://docs.arangodb.com/3.11/aql/graphs/traversals/).
//
// Options: order "dfs" (default) | "bfs" (or the legacy bfs: true),
// uniqueVertices "none" (default) | "path" | "global" (bfs only),
// uniqueEdges "path" (default) | "none".
//
// Every vertex collection a traversal reaches must be known to the query:
// declared with WITH or used explicitly elsewhere in it. Clusters (OneShard
// included) refuse anything else with error 1521 "collection not known to
// traversal"; single servers do so with --query.require-with. The stand-in
// enforces it always (https://docs.arangodb.com/3.11/aql/high-level-operations/with/).
'use strict';

const V = require('./values');
const { withMessage } = require('../errors');

function idOf(v) {
  if (typeof v === 'string') return v;
  if (V.typeOf(v) === 'object' && typeof v._id === 'string') return v._id;
  return null;
}

function collectionOf(id) {
  const i = id.indexOf('/');
  return i > 0 ? id.slice(0, i) : null;
}

function notKnown(ctx, collection) {
  return withMessage(1521, `AQL: collection not known to traversal: '${collection}'. please add 'WITH ${collection}' `
    + 'as the first line in your AQL (while executing)');
}

/** The edge collections and their directions a traversal statement follows. */
function edgeSources(st, row, ctx, evaluate) {
  const dir = st.direction;
  if (st.graph) {
    const name = evaluate(st.graph, row, ctx);
    const g = ctx.db.graph(V.toString(name));
    return g.edgeDefinitions.map((d) => ({ collection: d.collection, direction: dir }));
  }
  return st.edges.map((e) => {
    const n = e.name.type === 'value' ? e.name.value
      : e.name.type === 'collparam' ? ctx.collectionParam(e.name.name) : ctx.param(e.name.name);
    if (typeof n !== 'string') throw withMessage(1553, `bind parameter '${e.name.name}' has an invalid value or type`);
    ctx.db.collection(n);
    return { collection: n, direction: e.direction || dir };
  });
}

/** The rows a traversal statement produces for one input row. */
function traverse(st, row, ctx, evaluate) {
  const opts = st.options ? evaluate(st.options, {}, ctx) : {};
  const order = opts.order || (opts.bfs ? 'bfs' : 'dfs');
  const uniqueVertices = opts.uniqueVertices || 'none';
  const uniqueEdges = opts.uniqueEdges || 'path';
  if (uniqueVertices === 'global' && order !== 'bfs') {
    throw withMessage(10, "uniqueVertices: 'global' is only supported with order: 'bfs'");
  }
  if (order === 'weighted') throw withMessage(9, 'the ArangoDB stand-in does not implement weighted traversals');
  const min = Math.trunc(V.toNumber(evaluate(st.min, row, ctx)));
  const max = Math.trunc(V.toNumber(evaluate(st.max, row, ctx)));
  const startValue = evaluate(st.start, row, ctx);
  const startId = idOf(startValue);
  if (startId === null || collectionOf(startId) === null) {
    ctx.warn(10, `Invalid input for traversal: Only id strings or objects with _id are allowed`);
    return [];
  }
  const sources = edgeSources(st, row, ctx, evaluate);
  const vertex = (id) => {
    const c = collectionOf(id);
    if (!ctx.db.knownToTraversal(c)) throw notKnown(ctx, c);
    const doc = ctx.document(c, id.slice(c.length + 1));
    if (doc === null) ctx.warn(1202, `vertex '${id}' not found`);
    return doc;
  };
  const neighbours = (id) => {
    const out = [];
    for (const s of sources) {
      if (s.direction === 'OUTBOUND' || s.direction === 'ANY') {
        for (const e of ctx.db.edges(s.collection, id, 'out')) out.push({ edge: e, next: e._to });
      }
      if (s.direction === 'INBOUND' || s.direction === 'ANY') {
        for (const e of ctx.db.edges(s.collection, id, 'in')) out.push({ edge: e, next: e._from });
      }
    }
    return out;
  };
  const rows = [];
  const emit = (path) => {
    const r = Object.assign({}, row);
    r[st.vertex.id] = path.vertices[path.vertices.length - 1];
    if (st.edge) r[st.edge.id] = path.edges.length ? path.edges[path.edges.length - 1] : null;
    if (st.path) r[st.path.id] = { edges: path.edges.slice(), vertices: path.vertices.slice() };
    return r;
  };
  const pruned = (r) => {
    if (!st.prune) return false;
    if (st.pruneVariable) {
      const v = evaluate(st.prune, r, ctx);
      r[st.pruneVariable.id] = v;
      return V.truthy(v);
    }
    return V.truthy(evaluate(st.prune, r, ctx));
  };
  // A start given as a string is a read of its collection (which must then be
  // known); a start document is used as it is.
  const first = typeof startValue === 'string' ? vertex(startId) : startValue;
  const start = { ids: [startId], vertices: [first], edges: [], edgeIds: [] };
  const globalSeen = new Set([startId]);
  const visit = (path) => {
    const depth = path.edges.length;
    const r = emit(path);
    const stop = pruned(r);
    if (depth >= min) rows.push(r);
    return !stop && depth < max;
  };
  const expand = (path) => {
    const last = path.ids[path.ids.length - 1];
    const next = [];
    for (const { edge, next: to } of neighbours(last)) {
      if (uniqueEdges === 'path' && path.edgeIds.includes(edge._id)) continue;
      if (uniqueVertices === 'path' && path.ids.includes(to)) continue;
      if (uniqueVertices === 'global') {
        if (globalSeen.has(to)) continue;
        globalSeen.add(to);
      }
      next.push({
        ids: [...path.ids, to],
        vertices: [...path.vertices, vertex(to)],
        edges: [...path.edges, edge],
        edgeIds: [...path.edgeIds, edge._id],
      });
    }
    return next;
  };
  if (order === 'bfs') {
    let frontier = [start];
    while (frontier.length) {
      const nextFrontier = [];
      for (const p of frontier) if (visit(p)) nextFrontier.push(...expand(p));
      frontier = nextFrontier;
    }
  } else {
    const stack = [start];
    while (stack.length) {
      const p = stack.pop();
      if (visit(p)) stack.push(...expand(p).reverse());
    }
  }
  return rows;
}

module.exports = { traverse, collectionOf, idOf };
