// The AQL parser: tokens to an AST, after arangod/Aql/grammar.y (ArangoDB's
// bison grammar; operator precedence, statement order, scoping and the
// parse-time errors are taken from it).
//
// Statements: WITH, FOR (collections, arrays, traversals), LET, FILTER, SORT,
// LIMIT, COLLECT, RETURN [DISTINCT], INSERT, UPDATE, REPLACE, REMOVE, UPSERT.
// Anything outside the stand-in's subset (WINDOW, SEARCH, shortest paths,
// UPSERT FILTER, user functions, ...) is refused with error 9 naming it.
//
// Variables are resolved while parsing, as ArangoDB does: a name that is not
// a variable in scope is a collection (a real server then answers 1203 if no
// such collection exists, which is what "variable used before it is defined"
// looks like on a real server).
'use strict';

const { tokenize, describe, syntaxError, position } = require('./lexer');
const { withMessage, arangoError } = require('../errors');
const functions = require('./functions');
const { Scopes } = require('./scopes');
const { expressionMethods } = require('./expressions');
const { walkExpr, isConstant, STATEMENT_KEYWORDS } = require('./ast');

const MODIFICATIONS = new Set(['INSERT', 'UPDATE', 'REPLACE', 'REMOVE', 'UPSERT']);
const DIRECTIONS = new Set(['OUTBOUND', 'INBOUND', 'ANY']);

class Parser {
  constructor(text) {
    this.text = text;
    this.toks = tokenize(text);
    this.i = 0;
    this.scopes = new Scopes();
    this.nextVarId = 1;
    this.params = new Map(); // name -> { collection: bool, pos }
    this.currentStack = []; // iterator variables of array expansions (CURRENT)
    this.subqueries = 0;
  }

  // ---- tokens ----

  peek(k = 0) {
    return this.toks[Math.min(this.i + k, this.toks.length - 1)];
  }
  next() {
    return this.toks[this.i++];
  }
  isKw(value, k = 0) {
    const t = this.peek(k);
    return t.type === 'kw' && t.value === value;
  }
  isOp(value, k = 0) {
    const t = this.peek(k);
    return t.type === 'op' && t.value === value;
  }
  isIdent(word, k = 0) {
    const t = this.peek(k);
    return t.type === 'ident' && !t.quoted && t.value.toUpperCase() === word;
  }
  fail(tok, expecting) {
    let what = `syntax error, unexpected ${describe(tok)}`;
    if (expecting) what += `, expecting ${expecting}`;
    return syntaxError(this.text, tok.pos, what);
  }
  expectKw(value, expecting) {
    if (!this.isKw(value)) throw this.fail(this.peek(), expecting || describe({ type: 'kw', value }));
    return this.next();
  }
  expectOp(value) {
    if (!this.isOp(value)) throw this.fail(this.peek(), value);
    return this.next();
  }
  unsupported(tok, what) {
    const { line, col } = position(this.text, tok.pos);
    return withMessage(9, `the ArangoDB stand-in does not implement ${what} (at position ${line}:${col}); `
      + 'tests/arango/README.md lists the AQL subset it checks');
  }
  /** A 1501 parse error with ArangoDB's own wording for a semantic check. */
  parseError(tok, message) {
    const { line, col } = position(this.text, tok.pos);
    return withMessage(1501, `AQL: ${message} at position ${line}:${col} (while parsing)`);
  }

  // ---- variables ----

  variable(name, user, tok) {
    if (user && this.scopes.lookup(name) && this.scopes.lookup(name).user) {
      const { line, col } = position(this.text, tok ? tok.pos : 0);
      throw withMessage(1511, `AQL: variable '${name}' is assigned multiple times (at position ${line}:${col}) (while parsing)`);
    }
    const v = { id: this.nextVarId++, name, user };
    this.scopes.add(v);
    return v;
  }
  variableName() {
    const t = this.peek();
    if (t.type !== 'ident') throw this.fail(t, 'identifier');
    this.next();
    return t;
  }
  param(tok) {
    const collection = tok.type === 'collparam';
    const prev = this.params.get(tok.value);
    if (!prev) this.params.set(tok.value, { collection, pos: tok.pos });
    return collection ? { type: 'collparam', name: tok.value, pos: tok.pos } : { type: 'param', name: tok.value, pos: tok.pos };
  }

  // ---- query ----

  parseQuery() {
    if (this.peek().type === 'eof') throw arangoError(1502);
    let withCollections = null;
    if (this.isKw('WITH')) {
      this.next();
      withCollections = [];
      for (;;) {
        const t = this.peek();
        if (t.type === 'ident') withCollections.push({ type: 'name', name: this.next().value, pos: t.pos });
        else if (t.type === 'collparam' || t.type === 'param') withCollections.push(this.param(this.next()));
        else if (this.isOp(',') && withCollections.length > 0) {
          this.next();
          continue;
        } else break;
      }
      if (withCollections.length === 0) throw this.fail(this.peek(), 'identifier');
    }
    const body = this.parseBody();
    if (this.peek().type !== 'eof') throw this.fail(this.peek(), 'end of query string');
    return { type: 'query', with: withCollections, body, params: this.params, text: this.text };
  }

  /** Statements up to and including the final RETURN or data-modification. */
  parseBody() {
    const statements = [];
    for (;;) {
      const t = this.peek();
      if (t.type !== 'kw' || !STATEMENT_KEYWORDS.has(t.value)) {
        if (statements.length && MODIFICATIONS.has(statements[statements.length - 1].kind.toUpperCase())) {
          this.scopes.endNested();
          return { statements };
        }
        throw this.fail(t, statements.length ? 'RETURN declaration or data-modification operation'
          : 'FOR declaration, LET declaration or RETURN declaration');
      }
      switch (t.value) {
        case 'FOR':
          statements.push(this.parseFor());
          break;
        case 'LET':
          statements.push(...this.parseLet());
          break;
        case 'FILTER':
          this.next();
          statements.push({ kind: 'filter', expr: this.parseExpr(), pos: t.pos });
          break;
        case 'COLLECT':
          statements.push(this.parseCollect());
          break;
        case 'SORT':
          statements.push(this.parseSort());
          break;
        case 'LIMIT':
          statements.push(this.parseLimit());
          break;
        case 'WINDOW':
          throw this.unsupported(t, 'WINDOW');
        case 'RETURN':
          statements.push(this.parseReturn());
          return { statements };
        default:
          statements.push(this.parseModification());
      }
    }
  }

  // ---- FOR ----

  parseFor() {
    const forTok = this.next();
    const names = [this.variableName()];
    while (this.isOp(',')) {
      this.next();
      names.push(this.variableName());
    }
    this.expectKw('IN');
    for (const kw of ['SHORTEST_PATH', 'K_SHORTEST_PATHS', 'K_PATHS', 'ALL_SHORTEST_PATHS']) {
      if (this.isKw(kw) || (DIRECTIONS.has(this.peek().value) && this.isKw(kw, 1))) {
        throw this.unsupported(this.peek(), `${kw} graph queries`);
      }
    }
    let steps = null;
    if (!(this.peek().type === 'kw' && DIRECTIONS.has(this.peek().value))) {
      const expr = this.parseExpr({ noDirection: true });
      if (!(this.peek().type === 'kw' && DIRECTIONS.has(this.peek().value))) {
        if (names.length > 1) {
          throw this.parseError(names[1], 'Collections and views FOR loops only allow a single return variable');
        }
        return this.finishFor(forTok, names[0], expr);
      }
      steps = expr;
    }
    if (this.isKw('SHORTEST_PATH', 1) || this.isKw('K_SHORTEST_PATHS', 1) || this.isKw('K_PATHS', 1)
      || this.isKw('ALL_SHORTEST_PATHS', 1)) {
      throw this.unsupported(this.peek(1), `${this.peek(1).value} graph queries`);
    }
    return this.parseTraversal(forTok, names, steps);
  }

  finishFor(forTok, nameTok, expr) {
    let options = null;
    if (this.peek().type === 'ident' && !this.peek().quoted) {
      const word = this.peek().value.toUpperCase();
      if (word === 'SEARCH') throw this.unsupported(this.peek(), 'SEARCH (ArangoSearch views)');
      if (word === 'OPTIONS') {
        const t = this.next();
        options = this.parseOptions(t);
      }
    }
    this.scopes.start('for');
    const v = this.variable(nameTok.value, true, nameTok);
    let source = expr;
    if (expr.type === 'collection') source = { type: 'collection', name: expr.name, pos: expr.pos };
    return { kind: 'for', variable: v, source, options, pos: forTok.pos };
  }

  parseTraversal(forTok, names, steps) {
    if (names.length > 3) throw this.parseError(names[3], 'Traversals only have one, two or three return variables');
    const dirTok = this.next();
    let min = { type: 'value', value: 1 };
    let max = { type: 'value', value: 1 };
    if (steps) {
      if (steps.type === 'range') {
        min = steps.from;
        max = steps.to;
      } else {
        min = steps;
        max = steps;
      }
    }
    const start = this.parseExpr({ noDirection: true });
    let graph = null;
    const edges = [];
    if (this.isKw('GRAPH')) {
      this.next();
      const t = this.next();
      if (t.type === 'ident' || t.type === 'string') graph = { type: 'value', value: t.value };
      else if (t.type === 'param') graph = this.param(t);
      else throw this.fail(t, 'identifier, quoted string or bind parameter');
    } else {
      for (;;) {
        let direction = null;
        if (this.peek().type === 'kw' && DIRECTIONS.has(this.peek().value)) direction = this.next().value;
        const t = this.next();
        if (t.type === 'ident') edges.push({ name: { type: 'value', value: t.value }, direction, pos: t.pos });
        else if (t.type === 'param' || t.type === 'collparam') edges.push({ name: this.param(t), direction, pos: t.pos });
        else throw this.fail(t, 'identifier or bind parameter');
        if (!this.isOp(',')) break;
        this.next();
      }
    }
    this.scopes.start('for');
    const vars = names.map((n) => this.variable(n.value, true, n));
    let prune = null;
    let pruneVariable = null;
    let options = null;
    if (this.isIdent('PRUNE')) {
      const t = this.next();
      if (this.peek().type === 'ident' && this.isOp('=', 1)) {
        const n = this.variableName();
        this.next();
        prune = this.parseExpr();
        pruneVariable = this.variable(n.value, true, n);
      } else {
        prune = this.parseExpr();
      }
      prune.pos = t.pos;
    }
    if (this.isIdent('OPTIONS')) options = this.parseOptions(this.next());
    return {
      kind: 'traversal', vertex: vars[0], edge: vars[1] || null, path: vars[2] || null, min, max,
      direction: dirTok.value, start, graph, edges, prune, pruneVariable, options, pos: forTok.pos,
    };
  }

  // ---- LET, SORT, LIMIT, RETURN ----

  parseLet() {
    const letTok = this.next();
    const out = [];
    for (;;) {
      const n = this.variableName();
      this.expectOp('=');
      const expr = this.parseExpr();
      out.push({ kind: 'let', variable: this.variable(n.value, true, n), expr, pos: letTok.pos });
      if (!this.isOp(',')) return out;
      this.next();
    }
  }

  parseSort() {
    const t = this.next();
    const elements = [];
    for (;;) {
      const expr = this.parseExpr();
      let ascending = { type: 'value', value: true };
      if (this.isKw('ASC')) this.next();
      else if (this.isKw('DESC')) {
        this.next();
        ascending = { type: 'value', value: false };
      } else if (this.peek().type === 'string' || this.peek().type === 'param' || this.isKw('TRUE') || this.isKw('FALSE')) {
        const d = this.next();
        if (d.type === 'param') ascending = this.param(d);
        else if (d.type === 'string') ascending = { type: 'value', value: d.value.toUpperCase() !== 'DESC' };
        else ascending = { type: 'value', value: d.value === 'TRUE' };
      }
      elements.push({ expr, ascending });
      if (!this.isOp(',')) break;
      this.next();
    }
    return { kind: 'sort', elements, pos: t.pos };
  }

  parseLimit() {
    const t = this.next();
    let offset = { type: 'value', value: 0 };
    let count = this.parseExpr();
    if (this.isOp(',')) {
      this.next();
      offset = count;
      count = this.parseExpr();
    }
    return { kind: 'limit', offset, count, pos: t.pos };
  }

  parseReturn() {
    const t = this.next();
    let distinct = false;
    if (this.isKw('DISTINCT')) {
      const d = this.next();
      if (['main', 'subquery'].includes(this.scopes.type())) {
        throw this.parseError(d, 'cannot use DISTINCT modifier on top-level query element');
      }
      distinct = true;
    }
    const expr = this.parseExpr();
    this.scopes.endNested();
    return { kind: 'return', distinct, expr, pos: t.pos };
  }

  // ---- COLLECT ----

  parseCollect() {
    const t = this.next();
    const groups = [];
    const aggregates = [];
    let countInto = null;
    let into = null;
    let keep = null;
    if (!this.isKw('WITH') && !this.isKw('AGGREGATE')) {
      for (;;) {
        const n = this.variableName();
        this.expectOp('=');
        groups.push({ nameTok: n, expr: this.parseExpr() });
        if (!this.isOp(',')) break;
        this.next();
      }
    }
    if (this.isKw('WITH')) {
      this.next();
      const c = this.peek();
      if (!(c.type === 'ident' && c.value.toUpperCase() === 'COUNT')) {
        throw this.parseError(c, `unexpected qualifier '${c.text}', expecting 'COUNT'`);
      }
      this.next();
      this.expectKw('INTO');
      countInto = this.variableName();
    } else {
      if (this.isKw('AGGREGATE')) {
        this.next();
        for (;;) {
          const n = this.variableName();
          this.expectOp('=');
          const ft = this.peek();
          const fn = this.parseExpr();
          if (fn.type !== 'call') {
            throw withMessage(1574, `AQL: aggregate expression must be a function call (at position ${ft.line}:${ft.col}) (while parsing)`);
          }
          if (!functions.AGGREGATORS.has(fn.name)) {
            throw withMessage(1574, `AQL: unknown aggregate function used: ${fn.name} (while parsing)`);
          }
          if (!functions.SUPPORTED_AGGREGATORS.has(fn.name)) throw this.unsupported(ft, `the aggregate function ${fn.name}`);
          aggregates.push({ nameTok: n, fn });
          if (!this.isOp(',')) break;
          this.next();
        }
      }
      if (this.isKw('INTO')) {
        this.next();
        const n = this.variableName();
        into = { nameTok: n, expr: null };
        if (this.isOp('=')) {
          this.next();
          into.expr = this.parseExpr();
        }
      }
      if (this.isIdent('KEEP')) {
        const k = this.next();
        if (!into) throw this.parseError(k, "use of 'KEEP' without 'INTO'");
        keep = [];
        for (;;) {
          const n = this.variableName();
          const v = this.scopes.lookup(n.value);
          if (!v) throw this.parseError(n, `use of unknown variable '${n.value}' for KEEP`);
          keep.push(v);
          if (!this.isOp(',')) break;
          this.next();
        }
      }
    }
    let options = null;
    if (this.isIdent('OPTIONS')) options = this.parseOptions(this.next());
    // grammar.y: an expression of this COLLECT may not use a variable it introduces.
    const introduced = new Set([...groups.map((g) => g.nameTok.value), ...aggregates.map((a) => a.nameTok.value)]);
    for (const a of aggregates) this.noCollectVariable(a.fn, introduced, t);
    if (into && into.expr) this.noCollectVariable(into.expr, introduced, t);
    const visible = this.scopes.visibleUserVariables();
    if (!['main', 'subquery'].includes(this.scopes.type())) {
      this.scopes.endNested();
      this.scopes.start('collect');
    }
    const node = { kind: 'collect', groups: [], aggregates: [], countInto: null, into: null, keep, options, visible, pos: t.pos };
    for (const g of groups) node.groups.push({ variable: this.variable(g.nameTok.value, true, g.nameTok), expr: g.expr });
    for (const a of aggregates) node.aggregates.push({ variable: this.variable(a.nameTok.value, true, a.nameTok), fn: a.fn });
    if (into) node.into = { variable: this.variable(into.nameTok.value, true, into.nameTok), expr: into.expr };
    if (countInto) node.countInto = this.variable(countInto.value, true, countInto);
    return node;
  }

  noCollectVariable(expr, introduced, tok) {
    walkExpr(expr, (e) => {
      if (e.type === 'collection' && introduced.has(e.name)) {
        throw withMessage(1512, `AQL: use of COLLECT variable '${e.name}' inside same COLLECT (at position ${tok.line}:${tok.col}) (while parsing)`);
      }
    });
  }

  // ---- data modification ----

  parseCollectionName() {
    const t = this.next();
    if (t.type === 'ident' || t.type === 'string') return { type: 'name', name: t.value, pos: t.pos };
    if (t.type === 'collparam') return this.param(t);
    throw this.fail(t, 'identifier, quoted string or bind data source parameter');
  }

  parseInto() {
    if (!this.isKw('IN') && !this.isKw('INTO')) throw this.fail(this.peek(), 'IN keyword or INTO keyword');
    this.next();
    const collection = this.parseCollectionName();
    let options = null;
    if (this.peek().type === 'ident' && !this.peek().quoted && !this.isOp('(', 1)) {
      const t = this.peek();
      if (t.value.toUpperCase() === 'OPTIONS') {
        this.next();
        options = this.parseOptions(t);
      } else if (!this.isOp('.', 1) && !this.isOp('[', 1)) {
        throw this.parseError(t, `unexpected qualifier '${t.value}', expecting 'OPTIONS'`);
      }
    }
    return { collection, options };
  }

  parseModification() {
    const t = this.next();
    const kind = t.value.toLowerCase();
    let node;
    if (kind === 'insert') {
      const doc = this.parseExpr({ noIn: true });
      const { collection, options } = this.parseInto();
      node = { kind, doc, collection, options, pos: t.pos };
      node.old = this.variable('$OLD', false);
      node.new = this.variable('$NEW', false);
    } else if (kind === 'update' || kind === 'replace') {
      const first = this.parseExpr({ noIn: true });
      let key = null;
      let doc = first;
      if (this.isKw('WITH')) {
        this.next();
        key = first;
        doc = this.parseExpr({ noIn: true });
      }
      const { collection, options } = this.parseInto();
      node = { kind, key, doc, collection, options, pos: t.pos };
      node.old = this.variable('$OLD', false);
      node.new = this.variable('$NEW', false);
    } else if (kind === 'remove') {
      const key = this.parseExpr({ noIn: true });
      const { collection, options } = this.parseInto();
      node = { kind, key, collection, options, pos: t.pos };
      node.old = this.variable('$OLD', false);
    } else {
      if (this.isKw('FILTER')) throw this.unsupported(this.peek(), 'UPSERT FILTER (ArangoDB 3.12 only; the backend must run on 3.11)');
      const st = this.peek();
      const search = this.parseExpr();
      if (search.type !== 'object' && search.type !== 'param') {
        throw this.fail(st, 'object literal or bind parameter after UPSERT');
      }
      const old = this.variable('$OLD', false);
      this.expectKw('INSERT');
      const insert = this.parseExpr();
      if (!this.isKw('UPDATE') && !this.isKw('REPLACE')) throw this.fail(this.peek(), 'UPDATE command or REPLACE command');
      const replace = this.next().value === 'REPLACE';
      const update = this.parseExpr({ noIn: true });
      const { collection, options } = this.parseInto();
      node = { kind, search, insert, update, replace, collection, options, pos: t.pos, old };
      node.new = this.variable('$NEW', false);
    }
    return node;
  }

  parseOptions(tok) {
    if (!this.isOp('{')) throw this.parseError(tok, "'OPTIONS' have to be an object");
    const start = this.peek();
    const o = this.parseExpr();
    if (o.type !== 'object') throw this.parseError(start, "'OPTIONS' have to be an object");
    if (!isConstant(o)) {
      throw withMessage(1575, `AQL: 'OPTIONS' have to be known at query compile time (at position ${tok.line}:${tok.col}) (while parsing)`);
    }
    return o;
  }

}

/** Parses an AQL query text to its AST (throws an ArangoError on bad input). */
function parse(text) {
  if (typeof text !== 'string') throw withMessage(10, 'query is not a string');
  return new Parser(text).parseQuery();
}

Object.assign(Parser.prototype, expressionMethods);

module.exports = { parse, walkExpr, isConstant, STATEMENT_KEYWORDS };
