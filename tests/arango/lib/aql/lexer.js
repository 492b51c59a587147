// The AQL tokenizer, after arangod/Aql/tokens.ll (ArangoDB's flex scanner)
// and the keyword list of https://docs.arangodb.com/3.11/aql/fundamentals/syntax/#keywords
//
// Keywords are case-insensitive and reserved: an unquoted keyword is never
// an identifier, so `doc.sort` or `{ filter: 1 }` is a syntax error (1501).
// Names that clash with a keyword must be quoted with backticks or forward
// ticks, or accessed as doc["sort"].
'use strict';

const { withMessage } = require('../errors');

/** The reserved keywords of AQL 3.11 (docs: AQL Syntax, "Keywords"). */
const KEYWORDS = new Set([
  'AGGREGATE', 'ALL', 'ALL_SHORTEST_PATHS', 'AND', 'ANY', 'ASC', 'COLLECT', 'DESC', 'DISTINCT', 'FALSE',
  'FILTER', 'FOR', 'GRAPH', 'IN', 'INBOUND', 'INSERT', 'INTO', 'K_PATHS', 'K_SHORTEST_PATHS', 'LET', 'LIKE',
  'LIMIT', 'NONE', 'NOT', 'NULL', 'OR', 'OUTBOUND', 'REMOVE', 'REPLACE', 'RETURN', 'SHORTEST_PATH', 'SORT',
  'TRUE', 'UPDATE', 'UPSERT', 'WINDOW', 'WITH',
]);

// How bison names tokens in "unexpected ..." messages (grammar.y %token).
const KEYWORD_NAMES = {
  FOR: 'FOR declaration', LET: 'LET declaration', FILTER: 'FILTER declaration', RETURN: 'RETURN declaration',
  COLLECT: 'COLLECT declaration', SORT: 'SORT declaration', LIMIT: 'LIMIT declaration', WINDOW: 'WINDOW declaration',
  ASC: 'ASC keyword', DESC: 'DESC keyword', IN: 'IN keyword', WITH: 'WITH keyword', INTO: 'INTO keyword',
  AGGREGATE: 'AGGREGATE keyword', GRAPH: 'GRAPH keyword', SHORTEST_PATH: 'SHORTEST_PATH keyword',
  K_SHORTEST_PATHS: 'K_SHORTEST_PATHS keyword', K_PATHS: 'K_PATHS keyword', ALL_SHORTEST_PATHS: 'ALL_SHORTEST_PATHS keyword',
  DISTINCT: 'DISTINCT modifier', REMOVE: 'REMOVE command', INSERT: 'INSERT command', UPDATE: 'UPDATE command',
  REPLACE: 'REPLACE command', UPSERT: 'UPSERT command', NULL: 'null', TRUE: 'true', FALSE: 'false',
  NOT: 'not operator', AND: 'and operator', OR: 'or operator', LIKE: 'like operator', OUTBOUND: 'outbound modifier',
  INBOUND: 'inbound modifier', ANY: 'any modifier', ALL: 'all modifier', NONE: 'none modifier',
};

// Longest first.
const OPERATORS = ['=~', '!~', '==', '!=', '>=', '<=', '&&', '||', '::', '..', '>', '<', '=', '!', '+', '-', '*', '/', '%',
  '?', ':', ',', '(', ')', '{', '}', '[', ']', '.'];

const IDENT = /^(\$?[a-zA-Z][_a-zA-Z0-9]*|_+[a-zA-Z]+[_a-zA-Z0-9]*)/;
const NUMBER = /^(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/;
const HEX = /^0[xX][0-9a-fA-F]+/;
const BIN = /^0[bB][01]+/;
const PARAM = /^@@?(_+[a-zA-Z0-9]+[a-zA-Z0-9_]*|[a-zA-Z0-9][a-zA-Z0-9_]*)/;

/** A token: { type, value, text, pos, line, col, quoted? }. */
function describe(tok) {
  switch (tok.type) {
    case 'eof':
      return 'end of query string';
    case 'kw':
      return KEYWORD_NAMES[tok.value] || `${tok.value} keyword`;
    case 'ident':
      return 'identifier';
    case 'string':
      return 'quoted string';
    case 'number':
      return tok.isInt ? 'integer number' : 'number';
    case 'param':
      return 'bind parameter';
    case 'collparam':
      return 'bind data source parameter';
    case 'op':
      if (tok.value === 'NOT_IN') return 'not in operator';
      if (tok.value === 'AT_LEAST') return 'at least modifier';
      return `${tok.value === '.' ? "'.'" : tok.value} ${/^[-+*/%=!<>~&|]+$/.test(tok.value) ? 'operator' : ''}`.trim();
    default:
      return tok.type;
  }
}

function unescape(body) {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = body[++i];
    switch (n) {
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      case 'u': {
        const hex = body.slice(i + 1, i + 5);
        if (/^[0-9a-fA-F]{4}$/.test(hex)) {
          out += String.fromCharCode(parseInt(hex, 16));
          i += 4;
        } else {
          out += 'u';
        }
        break;
      }
      default:
        out += n === undefined ? '' : n;
    }
  }
  return out;
}

/** Position (1-based line and column) of offset `pos` in `text`. */
function position(text, pos) {
  let line = 1;
  let col = 1;
  for (let i = 0; i < pos && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  return { line, col };
}

/** A 1501 syntax error at `pos`, in ArangoDB's wording. */
function syntaxError(text, pos, what) {
  const { line, col } = position(text, pos);
  const near = text.slice(pos, pos + 32).replace(/\s+/g, ' ');
  return withMessage(1501, `AQL: ${what} near '${near}' at position ${line}:${col} (while parsing)`, { line, col });
}

/** Splits `text` into tokens. */
function tokenize(text) {
  const tokens = [];
  let i = 0;
  const push = (type, value, start, extra) => {
    const p = position(text, start);
    tokens.push(Object.assign({ type, value, text: text.slice(start, i), pos: start, line: p.line, col: p.col }, extra));
  };
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\r' || c === '\n') {
      i++;
      continue;
    }
    if (text.startsWith('//', i)) {
      const end = text.indexOf('\n', i);
      i = end < 0 ? text.length : end + 1;
      continue;
    }
    if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) throw syntaxError(text, i, 'syntax error, unterminated comment');
      i = end + 2;
      continue;
    }
    const start = i;
    const rest = text.slice(i);
    if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw syntaxError(text, i, 'syntax error, unterminated string literal');
      const body = text.slice(i + 1, j);
      i = j + 1;
      push('string', unescape(body), start);
      continue;
    }
    if (c === '`' || c === '´') {
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      if (j >= text.length) throw syntaxError(text, i, 'syntax error, unterminated quoted name');
      const body = text.slice(i + 1, j);
      i = j + 1;
      push('ident', unescape(body), start, { quoted: true });
      continue;
    }
    let m;
    if ((m = HEX.exec(rest)) || (m = BIN.exec(rest))) {
      i += m[0].length;
      const v = m[0][1].toLowerCase() === 'x' ? parseInt(m[0].slice(2), 16) : parseInt(m[0].slice(2), 2);
      push('number', v, start, { isInt: true });
      continue;
    }
    if ((m = NUMBER.exec(rest))) {
      i += m[0].length;
      const isInt = !m[2] && !m[3];
      if (isInt && !Number.isSafeInteger(Number(m[0]))) {
        throw withMessage(9, `the ArangoDB stand-in cannot hold the integer ${m[0]} exactly (beyond 2^53; ArangoDB keeps `
          + '64-bit integers): bind it as a string, or test it against a real server');
      }
      push('number', Number(m[0]), start, { isInt });
      continue;
    }
    if ((m = PARAM.exec(rest))) {
      i += m[0].length;
      if (m[0].startsWith('@@')) push('collparam', m[0].slice(2), start);
      else push('param', m[0].slice(1), start);
      continue;
    }
    if ((m = IDENT.exec(rest))) {
      i += m[0].length;
      const upper = m[0].toUpperCase();
      if (upper === 'NOT') {
        // tokens.ll: NOT followed by IN is the NOT IN operator.
        const after = /^\s*([iI][nN])(?![_a-zA-Z0-9])/.exec(text.slice(i));
        if (after) {
          i += after[0].length;
          push('op', 'NOT_IN', start);
          continue;
        }
      }
      if (upper === 'AT') {
        const after = /^\s+[lL][eE][aA][sS][tT](?![_a-zA-Z0-9])/.exec(text.slice(i));
        if (after) {
          i += after[0].length;
          push('op', 'AT_LEAST', start);
          continue;
        }
      }
      if (KEYWORDS.has(upper)) push('kw', upper, start);
      else push('ident', m[0], start, { quoted: false });
      continue;
    }
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (op) {
      i += op.length;
      push('op', op, start);
      continue;
    }
    throw syntaxError(text, i, `syntax error, unexpected character '${c}'`);
  }
  push('eof', null, text.length);
  tokens[tokens.length - 1].text = '';
  return tokens;
}

module.exports = { tokenize, describe, syntaxError, position, KEYWORDS };
