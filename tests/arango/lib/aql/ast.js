// AST helpers shared by the parser, the checker, EXPLAIN and the evaluator.
'use strict';

/** The keywords that begin a statement (and so a subquery after `(`). */
const STATEMENT_KEYWORDS = new Set(['FOR', 'LET', 'FILTER', 'COLLECT', 'SORT', 'LIMIT', 'WINDOW', 'RETURN', 'INSERT',
  'UPDATE', 'REPLACE', 'REMOVE', 'UPSERT']);

/** A function call node. */
function call(name, args) {
  return { type: 'call', name, args };
}

/** Applies an attribute/index access, diving into expansions as grammar.y does. */
function applyPostfix(node, make) {
  if (node.type === 'expand') {
    let e = node;
    while (e.tail.type === 'expand') e = e.tail;
    e.tail = make(e.tail);
    return node;
  }
  return make(node);
}

/** Whether an expression can be computed at compile time (literals and bind parameters). */
function isConstant(e) {
  switch (e.type) {
    case 'value':
    case 'param':
      return true;
    case 'array':
      return e.elements.every(isConstant);
    case 'object':
      return e.members.every((m) => (typeof m.key === 'string' || isConstant(m.key)) && isConstant(m.value));
    case 'unary':
      return isConstant(e.operand);
    case 'binary':
      return isConstant(e.left) && isConstant(e.right);
    case 'range':
      return isConstant(e.from) && isConstant(e.to);
    default:
      return false;
  }
}

/** Calls `f` on every expression node of `e` (not entering subqueries). */
function walkExpr(e, f) {
  if (!e || typeof e !== 'object') return;
  f(e);
  switch (e.type) {
    case 'array':
      e.elements.forEach((x) => walkExpr(x, f));
      break;
    case 'object':
      e.members.forEach((m) => {
        if (typeof m.key !== 'string') walkExpr(m.key, f);
        walkExpr(m.value, f);
      });
      break;
    case 'attr':
    case 'attrparam':
      walkExpr(e.object, f);
      if (e.param) walkExpr(e.param, f);
      break;
    case 'index':
      walkExpr(e.object, f);
      walkExpr(e.index, f);
      break;
    case 'expand':
      walkExpr(e.object, f);
      walkExpr(e.filter, f);
      if (e.limit) {
        walkExpr(e.limit.offset, f);
        walkExpr(e.limit.count, f);
      }
      walkExpr(e.ret, f);
      walkExpr(e.tail, f);
      break;
    case 'passthru':
      walkExpr(e.expr, f);
      break;
    case 'call':
      e.args.forEach((x) => walkExpr(x, f));
      break;
    case 'unary':
      walkExpr(e.operand, f);
      break;
    case 'binary':
    case 'arraycmp':
      walkExpr(e.left, f);
      walkExpr(e.right, f);
      break;
    case 'ternary':
      walkExpr(e.cond, f);
      walkExpr(e.then, f);
      walkExpr(e.else, f);
      break;
    case 'range':
      walkExpr(e.from, f);
      walkExpr(e.to, f);
      break;
    default:
      break;
  }
}

module.exports = { call, applyPostfix, isConstant, walkExpr, STATEMENT_KEYWORDS };
