// The expression half of the AQL parser: operators with grammar.y's
// precedence (lowest first: ?:, OR, AND, ANY/ALL/NONE comparisons,
// == != LIKE =~ !~, IN NOT IN, < <= > >=, .., + -, * / %, unary - + NOT,
// then calls, attribute and index access, expansions). Installed on
// Parser.prototype by parser.js.
'use strict';

const { withMessage } = require('../errors');
const { position } = require('./lexer');
const functions = require('./functions');
const { call, applyPostfix, STATEMENT_KEYWORDS } = require('./ast');

const COMPARISONS = new Set(['==', '!=', '<', '<=', '>', '>=']);

const expressionMethods = {
  parseExpr(flags) {
    return this.parseTernary(flags || {});
  },

  parseTernary(f) {
    const cond = this.parseOr(f);
    if (!this.isOp('?')) return cond;
    this.next();
    if (this.isOp(':')) {
      this.next();
      return { type: 'ternary', cond, then: null, else: this.parseTernary(f) };
    }
    const then = this.parseTernary({});
    this.expectOp(':');
    return { type: 'ternary', cond, then, else: this.parseTernary(f) };
  },

  parseOr(f) {
    let left = this.parseAnd(f);
    while (this.isKw('OR') || this.isOp('||')) {
      this.next();
      left = { type: 'binary', op: 'OR', left, right: this.parseAnd(f) };
    }
    return left;
  },

  parseAnd(f) {
    let left = this.parseQuantified(f);
    while (this.isKw('AND') || this.isOp('&&')) {
      this.next();
      left = { type: 'binary', op: 'AND', left, right: this.parseQuantified(f) };
    }
    return left;
  },

  comparisonAt(k) {
    const t = this.peek(k);
    return (t.type === 'op' && (COMPARISONS.has(t.value) || t.value === 'NOT_IN')) || (t.type === 'kw' && t.value === 'IN');
  },

  parseQuantified(f) {
    let left = this.parseEquality(f);
    for (;;) {
      const t = this.peek();
      if (t.type === 'op' && t.value === 'AT_LEAST') throw this.unsupported(t, 'AT LEAST array comparisons');
      if (!(t.type === 'kw' && ['ANY', 'ALL', 'NONE'].includes(t.value) && this.comparisonAt(1))) return left;
      this.next();
      const opTok = this.next();
      const op = opTok.type === 'kw' ? 'IN' : opTok.value;
      const right = ['IN', 'NOT_IN'].includes(op) ? this.parseRelational(f) : this.parseIn(f);
      left = { type: 'arraycmp', quantifier: t.value, op, left, right };
    }
  },

  parseEquality(f) {
    let left = this.parseIn(f);
    for (;;) {
      const t = this.peek();
      if (t.type === 'op' && (t.value === '==' || t.value === '!=')) {
        this.next();
        left = { type: 'binary', op: t.value, left, right: this.parseIn(f) };
      } else if (this.isKw('LIKE')) {
        this.next();
        left = call('LIKE', [left, this.parseIn(f)]);
      } else if (this.isOp('=~') || this.isOp('!~')) {
        this.next();
        const test = call('REGEX_TEST', [left, this.parseIn(f)]);
        left = t.value === '=~' ? test : { type: 'unary', op: 'NOT', operand: test };
      } else if ((this.isKw('NOT') || this.isOp('!')) && (this.isKw('LIKE', 1) || this.isOp('=~', 1) || this.isOp('!~', 1))) {
        this.next();
        const o = this.next();
        const fn = o.type === 'kw' ? 'LIKE' : 'REGEX_TEST';
        const c = call(fn, [left, this.parseIn(f)]);
        left = o.value === '!~' ? c : { type: 'unary', op: 'NOT', operand: c };
      } else {
        return left;
      }
    }
  },

  parseIn(f) {
    let left = this.parseRelational(f);
    for (;;) {
      if (this.isKw('IN') && !f.noIn) {
        this.next();
        left = { type: 'binary', op: 'IN', left, right: this.parseRelational(f) };
      } else if (this.isOp('NOT_IN')) {
        this.next();
        left = { type: 'binary', op: 'NOT IN', left, right: this.parseRelational(f) };
      } else {
        return left;
      }
    }
  },

  parseRelational(f) {
    let left = this.parseRange(f);
    while (['<', '<=', '>', '>='].some((o) => this.isOp(o))) {
      const op = this.next().value;
      left = { type: 'binary', op, left, right: this.parseRange(f) };
    }
    return left;
  },

  parseRange(f) {
    let left = this.parseAdditive(f);
    while (this.isOp('..')) {
      this.next();
      left = { type: 'range', from: left, to: this.parseAdditive(f) };
    }
    return left;
  },

  parseAdditive(f) {
    let left = this.parseMultiplicative(f);
    while (this.isOp('+') || this.isOp('-')) {
      const op = this.next().value;
      left = { type: 'binary', op, left, right: this.parseMultiplicative(f) };
    }
    return left;
  },

  parseMultiplicative(f) {
    let left = this.parseUnary(f);
    while (this.isOp('*') || this.isOp('/') || this.isOp('%')) {
      const op = this.next().value;
      left = { type: 'binary', op, left, right: this.parseUnary(f) };
    }
    return left;
  },

  parseUnary(f) {
    if (this.isOp('-') || this.isOp('+')) {
      const op = this.next().value;
      const operand = this.parseUnary(f);
      if (operand.type === 'value' && typeof operand.value === 'number') {
        return { type: 'value', value: op === '-' ? -operand.value : operand.value };
      }
      return { type: 'unary', op, operand };
    }
    if (this.isOp('!') || this.isKw('NOT')) {
      this.next();
      return { type: 'unary', op: 'NOT', operand: this.parseUnary(f) };
    }
    return this.parsePostfix(f);
  },

  parsePostfix(f) {
    let node = this.parsePrimary(f);
    for (;;) {
      if (this.isOp('.')) {
        this.next();
        const t = this.next();
        let access;
        if (t.type === 'ident') access = (obj) => ({ type: 'attr', object: obj, name: t.value });
        else if (t.type === 'param') {
          const p = this.param(t);
          access = (obj) => ({ type: 'attrparam', object: obj, param: p });
        } else throw this.fail(t, 'identifier or bind parameter');
        node = applyPostfix(node, access);
      } else if (this.isOp('[')) {
        if (this.isOp('*', 1) || this.isOp('?', 1)) {
          node = this.parseExpansion(node);
        } else {
          this.next();
          const index = this.parseExpr();
          this.expectOp(']');
          node = applyPostfix(node, (obj) => ({ type: 'index', object: obj, index }));
        }
      } else {
        return node;
      }
    }
  },

  parseExpansion(object) {
    const open = this.next();
    const boolean = this.isOp('?');
    let depth = 0;
    while (this.isOp(boolean ? '?' : '*')) {
      this.next();
      depth++;
    }
    if (boolean) throw this.unsupported(open, 'the [?] question mark operator');
    const iterator = { id: this.nextVarId++, name: `$expansion${this.nextVarId}`, user: false };
    this.currentStack.push(iterator);
    let filter = null;
    let limit = null;
    let ret = null;
    if (this.isKw('FILTER')) {
      this.next();
      filter = this.parseExpr();
    } else if (this.peek().type === 'kw' && ['ANY', 'ALL', 'NONE'].includes(this.peek().value) && this.isKw('FILTER', 1)) {
      throw this.parseError(this.peek(), 'unexpected quantifier value found for array expansion operation.');
    }
    if (this.isKw('LIMIT')) {
      this.next();
      let offset = { type: 'value', value: 0 };
      let count = this.parseExpr();
      if (this.isOp(',')) {
        this.next();
        offset = count;
        count = this.parseExpr();
      }
      limit = { offset, count };
    }
    if (this.isKw('RETURN')) {
      this.next();
      ret = this.parseExpr();
    }
    this.currentStack.pop();
    this.expectOp(']');
    const base = object.type === 'expand' && depth > 1 ? { type: 'passthru', expr: object } : object;
    const make = (obj) => ({ type: 'expand', object: obj, iterator, depth, filter, limit, ret, tail: { type: 'ref', variable: iterator } });
    if (base.type === 'expand') return applyPostfix(base, make);
    return make(base);
  },

  parsePrimary(f) {
    const t = this.peek();
    switch (t.type) {
      case 'number':
        this.next();
        return { type: 'value', value: t.value };
      case 'string':
        this.next();
        return { type: 'value', value: t.value };
      case 'param':
      case 'collparam':
        this.next();
        return this.param(t);
      case 'kw':
        if (t.value === 'NULL' || t.value === 'TRUE' || t.value === 'FALSE') {
          this.next();
          return { type: 'value', value: t.value === 'NULL' ? null : t.value === 'TRUE' };
        }
        if (t.value === 'LIKE' && this.isOp('(', 1)) return this.parseCall(this.next(), 'LIKE');
        throw this.fail(t);
      case 'ident':
        if (this.isOp('(', 1) || (this.isOp('::', 1) && !t.quoted)) return this.parseCall(this.next(), null);
        this.next();
        return this.reference(t);
      case 'op':
        if (t.value === '[') return this.parseArray();
        if (t.value === '{') return this.parseObject();
        if (t.value === '(') {
          this.next();
          if (this.peek().type === 'kw' && STATEMENT_KEYWORDS.has(this.peek().value)) {
            const sub = this.parseSubquery(t);
            this.expectOp(')');
            return sub;
          }
          const inner = this.parseExpr();
          this.expectOp(')');
          return inner.type === 'expand' ? { type: 'passthru', expr: inner } : inner;
        }
        throw this.fail(t);
      default:
        throw this.fail(t);
    }
  },

  parseSubquery(tok) {
    this.scopes.start('subquery');
    const saved = this.currentStack;
    this.currentStack = [];
    const body = this.parseBody();
    this.currentStack = saved;
    this.scopes.endCurrent();
    this.subqueries++;
    return { type: 'subquery', body, pos: tok.pos };
  },

  reference(t) {
    const name = t.value;
    let v = this.scopes.lookup(name);
    if (!v && (name === 'CURRENT' || name === '$CURRENT') && this.currentStack.length) {
      v = this.currentStack[this.currentStack.length - 1];
    }
    if (!v && (name === 'OLD' || name === 'NEW')) v = this.scopes.lookup('$' + name);
    if (v) return { type: 'ref', variable: v, pos: t.pos };
    return { type: 'collection', name, pos: t.pos, quoted: !!t.quoted };
  },

  parseCall(nameTok, fixed) {
    let name = fixed || nameTok.value.toUpperCase();
    while (this.isOp('::')) {
      this.next();
      name += '::' + this.next().value.toUpperCase();
    }
    const { line, col } = position(this.text, nameTok.pos);
    const def = functions.lookup(name, ` (at position ${line}:${col})`);
    this.expectOp('(');
    const args = [];
    if (!this.isOp(')')) {
      for (;;) {
        const at = this.peek();
        if (at.type === 'kw' && STATEMENT_KEYWORDS.has(at.value)) args.push(this.parseSubquery(at));
        else args.push(this.parseExpr());
        if (!this.isOp(',')) break;
        this.next();
      }
    }
    this.expectOp(')');
    if (args.length < def.min || args.length > def.max) {
      throw withMessage(1541, `AQL: invalid number of arguments for function '${name}()', expected number of arguments: `
        + `minimum: ${def.min}, maximum: ${def.max === Infinity ? 65536 : def.max} (while parsing)`);
    }
    const node = { type: 'call', name, args, pos: nameTok.pos };
    if (def.collectionArg >= 0 && args[def.collectionArg] && args[def.collectionArg].type === 'collection') {
      const c = args[def.collectionArg];
      node.collection = c.name;
      node.collectionNode = c;
      args[def.collectionArg] = { type: 'value', value: c.name, collectionName: true };
    }
    return node;
  },

  parseArray() {
    this.next();
    const elements = [];
    while (!this.isOp(']')) {
      elements.push(this.parseExpr());
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp(']');
    return { type: 'array', elements };
  },

  parseObject() {
    this.next();
    const members = [];
    while (!this.isOp('}')) {
      const t = this.peek();
      if (t.type === 'ident' && !this.isOp(':', 1)) {
        this.next();
        const v = this.scopes.lookup(t.value) || (['OLD', 'NEW'].includes(t.value) ? this.scopes.lookup('$' + t.value) : null);
        if (!v) {
          throw withMessage(1512, `AQL: use of unknown variable '${t.value}' in object literal (at position ${t.line}:${t.col}) (while parsing)`);
        }
        members.push({ key: t.value, value: { type: 'ref', variable: v, pos: t.pos } });
      } else if (t.type === 'ident' || t.type === 'string') {
        this.next();
        this.expectOp(':');
        members.push({ key: t.value, value: this.parseExpr() });
      } else if (t.type === 'param') {
        this.next();
        const p = this.param(t);
        this.expectOp(':');
        members.push({ key: p, value: this.parseExpr() });
      } else if (t.type === 'op' && t.value === '[') {
        this.next();
        const k = this.parseExpr();
        this.expectOp(']');
        this.expectOp(':');
        members.push({ key: k, value: this.parseExpr() });
      } else {
        throw this.fail(t, 'identifier, quoted string or bind parameter');
      }
      if (!this.isOp(',')) break;
      this.next();
    }
    this.expectOp('}');
    return { type: 'object', members };
  },
};

module.exports = { expressionMethods };
