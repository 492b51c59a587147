// The AQL functions the stand-in implements, with their argument counts and
// whether they read documents (ArangoDB's Function::Flags::CanReadDocuments,
// which makes a call after a data-modification operation error 1579; see
// checker.js). Behaviour follows https://docs.arangodb.com/3.11/aql/functions/
//
// A call to a real AQL function outside this subset is refused with error 9
// (not implemented) naming the function, so a backend author learns at once
// that the stand-in cannot check it; an unknown name is error 1540 as on a
// real server.
'use strict';

const crypto = require('crypto');
const V = require('./values');
const { withMessage, arangoError } = require('../errors');

const F = {};

function def(name, min, max, impl, flags) {
  F[name] = Object.assign({ name, min, max, impl, readsDocuments: false, collectionArg: -1 }, flags || {});
}

const num = V.toNumber;
const arr = (v) => (Array.isArray(v) ? v : null);

function warn(ctx, code, message) {
  if (ctx && ctx.warn) ctx.warn(code, message);
}

function invalidArg(ctx, name) {
  warn(ctx, 1542, `invalid argument type in call to function '${name}()'`);
  return null;
}

// ---- document access ----

function parseId(s) {
  if (typeof s !== 'string') return null;
  const i = s.indexOf('/');
  if (i <= 0 || i === s.length - 1) return null;
  return { collection: s.slice(0, i), key: s.slice(i + 1) };
}

def('DOCUMENT', 1, 2, (args, ctx) => {
  if (args.length === 1) {
    const a = args[0];
    if (Array.isArray(a)) {
      return a.map((id) => {
        const p = parseId(typeof id === 'object' && id ? id._id : id);
        return p ? ctx.document(p.collection, p.key) : null;
      }).filter((d) => d !== null);
    }
    const p = parseId(typeof a === 'object' && a ? a._id : a);
    return p ? ctx.document(p.collection, p.key) : null;
  }
  const coll = args[0];
  if (typeof coll !== 'string') return invalidArg(ctx, 'DOCUMENT');
  const one = (k) => {
    if (typeof k === 'object' && k !== null) k = k._id || k._key;
    if (typeof k !== 'string') return null;
    const p = parseId(k);
    if (p) return p.collection === coll ? ctx.document(coll, p.key) : null;
    return ctx.document(coll, k);
  };
  if (Array.isArray(args[1])) return args[1].map(one).filter((d) => d !== null);
  return one(args[1]);
}, { readsDocuments: true, collectionArg: 0 });

// ---- type checks and casts ----

def('IS_NULL', 1, 1, ([v]) => v === null);
def('IS_BOOL', 1, 1, ([v]) => typeof v === 'boolean');
def('IS_NUMBER', 1, 1, ([v]) => typeof v === 'number');
def('IS_STRING', 1, 1, ([v]) => typeof v === 'string');
def('IS_ARRAY', 1, 1, ([v]) => Array.isArray(v));
def('IS_LIST', 1, 1, ([v]) => Array.isArray(v));
def('IS_OBJECT', 1, 1, ([v]) => V.typeOf(v) === 'object');
def('IS_DOCUMENT', 1, 1, ([v]) => V.typeOf(v) === 'object');
def('TYPENAME', 1, 1, ([v]) => V.typeName(v));
def('TO_NUMBER', 1, 1, ([v]) => V.toNumber(v));
def('TO_STRING', 1, 1, ([v]) => V.toString(v));
def('TO_BOOL', 1, 1, ([v]) => V.toBool(v));
def('TO_ARRAY', 1, 1, ([v]) => V.toArray(v));
def('TO_LIST', 1, 1, ([v]) => V.toArray(v));
def('NOT_NULL', 1, Infinity, (args) => {
  for (const a of args) if (a !== null) return a;
  return null;
});
def('FIRST_DOCUMENT', 1, Infinity, (args) => {
  for (const a of args) if (V.typeOf(a) === 'object') return a;
  return null;
});
def('FIRST_LIST', 1, Infinity, (args) => {
  for (const a of args) if (Array.isArray(a)) return a;
  return null;
});

// ---- arrays ----

function length(v) {
  switch (V.typeOf(v)) {
    case 'null':
      return 0;
    case 'bool':
      return v ? 1 : 0;
    case 'number':
      return V.numberToString(v).length;
    case 'string':
      return [...v].length;
    case 'array':
      return v.length;
    default:
      return Object.keys(v).length;
  }
}

def('LENGTH', 1, 1, ([v], ctx, call) => (call && call.collection ? ctx.count(call.collection) : length(v)), { collectionArg: 0 });
def('COUNT', 1, 1, ([v], ctx, call) => (call && call.collection ? ctx.count(call.collection) : length(v)), { collectionArg: 0 });
def('FIRST', 1, 1, ([a], ctx) => (Array.isArray(a) ? (a.length ? a[0] : null) : invalidArg(ctx, 'FIRST')));
def('LAST', 1, 1, ([a], ctx) => (Array.isArray(a) ? (a.length ? a[a.length - 1] : null) : invalidArg(ctx, 'LAST')));
def('NTH', 2, 2, ([a, i], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'NTH');
  const n = Math.trunc(num(i));
  return n >= 0 && n < a.length ? a[n] : null;
});

function uniq(list) {
  const seen = new Set();
  const out = [];
  for (const x of list) {
    const k = V.hashKey(x);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(x);
    }
  }
  return out;
}

def('PUSH', 2, 3, ([a, v, unique], ctx) => {
  if (a === null) a = [];
  if (!Array.isArray(a)) return invalidArg(ctx, 'PUSH');
  if (V.truthy(unique) && a.some((x) => V.equals(x, v))) return a.slice();
  return [...a, v];
});
def('APPEND', 2, 3, ([a, vs, unique], ctx) => {
  if (a === null) a = [];
  if (!Array.isArray(a)) return invalidArg(ctx, 'APPEND');
  const add = Array.isArray(vs) ? vs : [vs];
  const out = [...a, ...add];
  return V.truthy(unique) ? uniq(out) : out;
});
def('POP', 1, 1, ([a], ctx) => (Array.isArray(a) ? a.slice(0, -1) : invalidArg(ctx, 'POP')));
def('SHIFT', 1, 1, ([a], ctx) => (Array.isArray(a) ? a.slice(1) : invalidArg(ctx, 'SHIFT')));
def('UNSHIFT', 2, 3, ([a, v, unique], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'UNSHIFT');
  if (V.truthy(unique) && a.some((x) => V.equals(x, v))) return a.slice();
  return [v, ...a];
});
def('UNIQUE', 1, 1, ([a], ctx) => (Array.isArray(a) ? uniq(a) : invalidArg(ctx, 'UNIQUE')));
def('SORTED', 1, 1, ([a], ctx) => (Array.isArray(a) ? a.slice().sort(V.compare) : invalidArg(ctx, 'SORTED')));
def('SORTED_UNIQUE', 1, 1, ([a], ctx) => (Array.isArray(a) ? uniq(a).sort(V.compare) : invalidArg(ctx, 'SORTED_UNIQUE')));
def('UNION', 1, Infinity, (args, ctx) => {
  const out = [];
  for (const a of args) {
    if (!Array.isArray(a)) return invalidArg(ctx, 'UNION');
    out.push(...a);
  }
  return out;
});
def('UNION_DISTINCT', 1, Infinity, (args, ctx) => {
  const out = [];
  for (const a of args) {
    if (!Array.isArray(a)) return invalidArg(ctx, 'UNION_DISTINCT');
    out.push(...a);
  }
  return uniq(out);
});
def('MINUS', 1, Infinity, (args, ctx) => {
  if (!args.every(Array.isArray)) return invalidArg(ctx, 'MINUS');
  const drop = new Set(args.slice(1).flat().map(V.hashKey));
  return uniq(args[0]).filter((x) => !drop.has(V.hashKey(x)));
});
def('INTERSECTION', 1, Infinity, (args, ctx) => {
  if (!args.every(Array.isArray)) return invalidArg(ctx, 'INTERSECTION');
  let out = uniq(args[0]);
  for (const a of args.slice(1)) {
    const keep = new Set(a.map(V.hashKey));
    out = out.filter((x) => keep.has(V.hashKey(x)));
  }
  return out;
});
function flatten(a, depth) {
  const out = [];
  for (const x of a) {
    if (Array.isArray(x) && depth > 0) out.push(...flatten(x, depth - 1));
    else out.push(x);
  }
  return out;
}
def('FLATTEN', 1, 2, ([a, depth], ctx) => (Array.isArray(a) ? flatten(a, depth === undefined || depth === null ? 1 : num(depth)) : invalidArg(ctx, 'FLATTEN')));
def('POSITION', 2, 3, ([a, v, returnIndex], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'POSITION');
  const i = a.findIndex((x) => V.equals(x, v));
  return V.truthy(returnIndex) ? i : i >= 0;
});
def('CONTAINS_ARRAY', 2, 3, (args, ctx) => F.POSITION.impl(args, ctx));
def('SLICE', 2, 3, ([a, start, len], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'SLICE');
  let s = Math.trunc(num(start));
  if (s < 0) s = Math.max(0, a.length + s);
  if (len === undefined || len === null) return a.slice(s);
  let l = Math.trunc(num(len));
  const end = l < 0 ? a.length + l : s + l;
  return a.slice(s, end);
});
def('REVERSE', 1, 1, ([a], ctx) => {
  if (typeof a === 'string') return [...a].reverse().join('');
  return Array.isArray(a) ? a.slice().reverse() : invalidArg(ctx, 'REVERSE');
});
def('REMOVE_VALUE', 2, 3, ([a, v, limit], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'REMOVE_VALUE');
  let left = limit === undefined || limit === null ? Infinity : num(limit);
  return a.filter((x) => {
    if (left > 0 && V.equals(x, v)) {
      left--;
      return false;
    }
    return true;
  });
});
def('REMOVE_VALUES', 2, 2, ([a, vs], ctx) => {
  if (!Array.isArray(a) || !Array.isArray(vs)) return invalidArg(ctx, 'REMOVE_VALUES');
  return a.filter((x) => !vs.some((v) => V.equals(x, v)));
});
def('REMOVE_NTH', 2, 2, ([a, i], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'REMOVE_NTH');
  let n = Math.trunc(num(i));
  if (n < 0) n += a.length;
  return a.filter((_, j) => j !== n);
});
def('RANGE', 2, 3, ([from, to, step]) => {
  const a = num(from);
  const b = num(to);
  let s = step === undefined || step === null ? (a <= b ? 1 : -1) : num(step);
  if (s === 0 || (a < b && s < 0) || (a > b && s > 0)) return [];
  const out = [];
  for (let x = a; s > 0 ? x <= b : x >= b; x += s) out.push(x);
  return out;
});
def('COUNT_DISTINCT', 1, 1, ([a], ctx) => (Array.isArray(a) ? uniq(a).length : invalidArg(ctx, 'COUNT_DISTINCT')));
def('COUNT_UNIQUE', 1, 1, ([a], ctx) => (Array.isArray(a) ? uniq(a).length : invalidArg(ctx, 'COUNT_UNIQUE')));

// ---- numbers ----

function numbers(a) {
  return a.filter((x) => x !== null).map(num);
}
def('MIN', 1, 1, ([a], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'MIN');
  const xs = a.filter((x) => x !== null);
  return xs.length ? xs.reduce((m, x) => (V.compare(x, m) < 0 ? x : m)) : null;
});
def('MAX', 1, 1, ([a], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'MAX');
  const xs = a.filter((x) => x !== null);
  return xs.length ? xs.reduce((m, x) => (V.compare(x, m) > 0 ? x : m)) : null;
});
def('SUM', 1, 1, ([a], ctx) => (Array.isArray(a) ? numbers(a).reduce((s, x) => s + x, 0) : invalidArg(ctx, 'SUM')));
def('AVERAGE', 1, 1, ([a], ctx) => {
  if (!Array.isArray(a)) return invalidArg(ctx, 'AVERAGE');
  const xs = numbers(a);
  return xs.length ? xs.reduce((s, x) => s + x, 0) / xs.length : null;
});
def('AVG', 1, 1, (args, ctx) => F.AVERAGE.impl(args, ctx));
def('FLOOR', 1, 1, ([v]) => Math.floor(num(v)));
def('CEIL', 1, 1, ([v]) => Math.ceil(num(v)));
// ROUND(2.50) is 3 and ROUND(-2.50) is -2 (the AQL docs' examples): halves go up.
def('ROUND', 1, 1, ([v]) => Math.round(num(v)));
def('ABS', 1, 1, ([v]) => Math.abs(num(v)));
def('SQRT', 1, 1, ([v]) => {
  const x = num(v);
  return x < 0 ? null : Math.sqrt(x);
});
def('RAND', 0, 0, () => Math.random());

// ---- strings ----

def('CONCAT', 1, Infinity, (args) => {
  const parts = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  return parts.filter((x) => x !== null).map(V.toString).join('');
});
def('CONCAT_SEPARATOR', 2, Infinity, ([sep, ...rest]) => {
  const parts = rest.length === 1 && Array.isArray(rest[0]) ? rest[0] : rest;
  return parts.filter((x) => x !== null).map(V.toString).join(V.toString(sep));
});
def('SUBSTRING', 2, 3, ([s, offset, len]) => {
  const chars = [...V.toString(s)];
  let o = Math.trunc(num(offset));
  if (o < 0) o = Math.max(0, chars.length + o);
  if (len === undefined || len === null) return chars.slice(o).join('');
  const l = Math.trunc(num(len));
  return chars.slice(o, l < 0 ? chars.length + l : o + l).join('');
});
def('LEFT', 2, 2, ([s, n]) => [...V.toString(s)].slice(0, Math.max(0, num(n))).join(''));
def('RIGHT', 2, 2, ([s, n]) => {
  const c = [...V.toString(s)];
  return c.slice(Math.max(0, c.length - num(n))).join('');
});
def('LOWER', 1, 1, ([s]) => V.toString(s).toLowerCase());
def('UPPER', 1, 1, ([s]) => V.toString(s).toUpperCase());
def('TRIM', 1, 2, ([s]) => V.toString(s).trim());
def('LTRIM', 1, 2, ([s]) => V.toString(s).trimStart());
def('RTRIM', 1, 2, ([s]) => V.toString(s).trimEnd());
def('CONTAINS', 2, 3, ([text, search, returnIndex]) => {
  const i = V.toString(text).indexOf(V.toString(search));
  return V.truthy(returnIndex) ? i : i >= 0;
});
def('STARTS_WITH', 2, 3, ([s, prefix]) => {
  if (Array.isArray(prefix)) return prefix.some((p) => V.toString(s).startsWith(V.toString(p)));
  return V.toString(s).startsWith(V.toString(prefix));
});
def('SPLIT', 1, 3, ([s, sep, limit]) => {
  const str = V.toString(s);
  let parts;
  if (sep === undefined || sep === null) parts = [str];
  else if (Array.isArray(sep)) parts = str.split(new RegExp(sep.map((x) => escapeRegex(V.toString(x))).join('|')));
  else parts = str.split(V.toString(sep));
  if (limit !== undefined && limit !== null && num(limit) >= 0) parts = parts.slice(0, num(limit));
  return parts;
});
function escapeRegex(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
function likeToRegex(pattern, caseInsensitive) {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\' && i + 1 < pattern.length) re += escapeRegex(pattern[++i]);
    else if (c === '%') re += '[\\s\\S]*';
    else if (c === '_') re += '[\\s\\S]';
    else re += escapeRegex(c);
  }
  return new RegExp('^' + re + '$', caseInsensitive ? 'iu' : 'u');
}
def('LIKE', 2, 3, ([text, pattern, ci]) => likeToRegex(V.toString(pattern), V.truthy(ci)).test(V.toString(text)));
def('REGEX_TEST', 2, 3, ([text, pattern, ci], ctx) => {
  try {
    return new RegExp(V.toString(pattern), V.truthy(ci) ? 'i' : '').test(V.toString(text));
  } catch (e) {
    warn(ctx, 1543, 'invalid regex value');
    return null;
  }
});
def('JSON_STRINGIFY', 1, 1, ([v]) => JSON.stringify(v));
def('JSON_PARSE', 1, 1, ([s], ctx) => {
  try {
    return JSON.parse(V.toString(s));
  } catch (e) {
    warn(ctx, 1542, "invalid argument type in call to function 'JSON_PARSE()'");
    return null;
  }
});
def('MD5', 1, 1, ([s]) => crypto.createHash('md5').update(V.toString(s), 'utf8').digest('hex'));
def('SHA1', 1, 1, ([s]) => crypto.createHash('sha1').update(V.toString(s), 'utf8').digest('hex'));
def('SHA256', 1, 1, ([s]) => crypto.createHash('sha256').update(V.toString(s), 'utf8').digest('hex'));
def('SHA512', 1, 1, ([s]) => crypto.createHash('sha512').update(V.toString(s), 'utf8').digest('hex'));

// ---- documents (objects) ----

function isObj(v) {
  return V.typeOf(v) === 'object';
}
function names(args) {
  return args.flatMap((a) => (Array.isArray(a) ? a : [a])).map(V.toString);
}
def('MERGE', 1, Infinity, (args, ctx) => {
  const list = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  if (!list.every(isObj)) return invalidArg(ctx, 'MERGE');
  return Object.assign({}, ...list);
});
function mergeRecursive(a, b) {
  const out = Object.assign({}, a);
  for (const [k, v] of Object.entries(b)) out[k] = isObj(v) && isObj(out[k]) ? mergeRecursive(out[k], v) : v;
  return out;
}
def('MERGE_RECURSIVE', 1, Infinity, (args, ctx) => {
  if (!args.every(isObj)) return invalidArg(ctx, 'MERGE_RECURSIVE');
  return args.reduce(mergeRecursive, {});
});
def('UNSET', 1, Infinity, ([doc, ...rest], ctx) => {
  if (!isObj(doc)) return invalidArg(ctx, 'UNSET');
  const drop = new Set(names(rest));
  return Object.fromEntries(Object.entries(doc).filter(([k]) => !drop.has(k)));
});
def('KEEP', 1, Infinity, ([doc, ...rest], ctx) => {
  if (!isObj(doc)) return invalidArg(ctx, 'KEEP');
  const keep = new Set(names(rest));
  return Object.fromEntries(Object.entries(doc).filter(([k]) => keep.has(k)));
});
def('HAS', 2, 2, ([doc, name]) => isObj(doc) && Object.prototype.hasOwnProperty.call(doc, V.toString(name)));
def('ATTRIBUTES', 1, 3, ([doc, removeSystem, sort], ctx) => {
  if (!isObj(doc)) return invalidArg(ctx, 'ATTRIBUTES');
  let k = Object.keys(doc);
  if (V.truthy(removeSystem)) k = k.filter((x) => !x.startsWith('_'));
  return V.truthy(sort) ? k.sort() : k;
});
def('KEYS', 1, 3, (args, ctx) => F.ATTRIBUTES.impl(args, ctx));
def('VALUES', 1, 2, ([doc, removeSystem], ctx) => {
  if (!isObj(doc)) return invalidArg(ctx, 'VALUES');
  return Object.entries(doc).filter(([k]) => !(V.truthy(removeSystem) && k.startsWith('_'))).map(([, v]) => v);
});
def('ZIP', 2, 2, ([keys, values], ctx) => {
  if (!Array.isArray(keys) || !Array.isArray(values) || keys.length !== values.length) return invalidArg(ctx, 'ZIP');
  const out = {};
  keys.forEach((k, i) => {
    const key = V.toString(k);
    if (!(key in out)) out[key] = values[i];
  });
  return out;
});
def('PARSE_IDENTIFIER', 1, 1, ([v], ctx) => {
  const p = parseId(isObj(v) ? v._id : v);
  return p ? { collection: p.collection, key: p.key } : invalidArg(ctx, 'PARSE_IDENTIFIER');
});

// ---- misc ----

// The server's clock: this machine's, moved by the server's clockOffsetMs
// (--clock-offset-ms), so tests can run a server whose clock disagrees with
// its clients' (a client must measure leases on the server's clock).
def('DATE_NOW', 0, 0, (args, ctx) => Date.now() + ((ctx && ctx.db && ctx.db.store && ctx.db.store.clockOffsetMs) || 0));
def('FAIL', 0, 1, ([reason]) => {
  throw arangoError(1569, reason === undefined ? '' : JSON.stringify(reason));
});
def('NOOPT', 1, 1, ([v]) => v);
def('NOEVAL', 1, 1, ([v]) => v);
def('PASSTHRU', 1, 1, ([v]) => v);

// Aggregators usable in COLLECT ... AGGREGATE (arangod/Aql/Aggregator.cpp).
const AGGREGATORS = new Set(['LENGTH', 'COUNT', 'MIN', 'MAX', 'SUM', 'AVERAGE', 'AVG', 'UNIQUE', 'SORTED_UNIQUE',
  'COUNT_DISTINCT', 'COUNT_UNIQUE', 'PUSH', 'STDDEV', 'STDDEV_POPULATION', 'STDDEV_SAMPLE', 'VARIANCE',
  'VARIANCE_POPULATION', 'VARIANCE_SAMPLE', 'BIT_AND', 'BIT_OR', 'BIT_XOR']);
// The aggregators the stand-in evaluates.
const SUPPORTED_AGGREGATORS = new Set(['LENGTH', 'COUNT', 'MIN', 'MAX', 'SUM', 'AVERAGE', 'AVG', 'UNIQUE',
  'SORTED_UNIQUE', 'COUNT_DISTINCT', 'COUNT_UNIQUE', 'PUSH']);

// Real AQL functions outside the subset: calling one is "not implemented by
// the stand-in" (error 9), not "unknown function" (1540).
const UNSUPPORTED = new Set(['APPLY', 'CALL', 'CHECK_DOCUMENT', 'COLLECTIONS', 'COLLECTION_COUNT', 'CURRENT_DATABASE',
  'CURRENT_USER', 'DATE_ADD', 'DATE_COMPARE', 'DATE_DAY', 'DATE_DAYOFWEEK', 'DATE_DIFF', 'DATE_FORMAT', 'DATE_HOUR',
  'DATE_ISO8601', 'DATE_MONTH', 'DATE_SUBTRACT', 'DATE_TIMESTAMP', 'DATE_TRUNC', 'DATE_YEAR', 'DECODE_REV',
  'DISTANCE', 'ENTRIES', 'FIND_FIRST', 'FIND_LAST', 'FULLTEXT', 'GEO_CONTAINS', 'GEO_DISTANCE', 'HASH', 'IN_RANGE',
  'IS_KEY', 'IS_SAME_COLLECTION', 'LEVENSHTEIN_DISTANCE', 'LOG', 'MATCHES', 'NEAR', 'OUTERSECTION', 'PREGEL_RESULT',
  'REGEX_MATCHES', 'REGEX_REPLACE', 'REGEX_SPLIT', 'SCHEMA_GET', 'SCHEMA_VALIDATE', 'SLEEP', 'SOUNDEX',
  'SUBSTITUTE', 'TRANSLATE', 'UUID', 'VERSION', 'WITHIN', 'WITHIN_RECTANGLE', 'WARN', 'ASSERT', 'MIN_MATCH',
  'STDDEV', 'VARIANCE', 'PERCENTILE', 'MEDIAN', 'PRODUCT', 'POW', 'EXP', 'LOG2', 'LOG10', 'SIN', 'COS', 'TAN',
  'RANDOM_TOKEN', 'CRC32', 'FNV64', 'ENCODE_URI_COMPONENT', 'TO_BASE64', 'TO_HEX', 'TOKENS', 'NGRAM_SIMILARITY',
  'BM25', 'TFIDF', 'ANALYZER', 'BOOST', 'EXISTS', 'PHRASE', 'INTERLEAVE', 'JACCARD', 'MERGE_RECURSIVE_DEPRECATED',
  'ZIP_DEPRECATED', 'SHARD_ID', 'KEEP_RECURSIVE', 'UNSET_RECURSIVE', 'VALUE', 'COUNT_ARRAY']);

// Functions whose call reads documents (ArangoDB's CanReadDocuments flag).
// DOCUMENT is implemented; the others are refused as unsupported anyway.
const READS_DOCUMENTS = new Set(['DOCUMENT', 'FULLTEXT', 'NEAR', 'WITHIN', 'WITHIN_RECTANGLE', 'CALL', 'APPLY']);

/** The definition of function `name` (upper case), or a thrown 1540 / 9 error. */
function lookup(name, pos) {
  const f = F[name];
  if (f) return f;
  if (name.includes('::')) {
    throw withMessage(9, `the ArangoDB stand-in does not implement user-defined functions (${name}())${pos || ''}`);
  }
  if (UNSUPPORTED.has(name)) {
    throw withMessage(9, `the ArangoDB stand-in does not implement the AQL function ${name}()${pos || ''}; `
      + 'tests/arango/README.md lists the subset it checks');
  }
  throw arangoError(1540, name);
}

module.exports = { FUNCTIONS: F, AGGREGATORS, SUPPORTED_AGGREGATORS, READS_DOCUMENTS, lookup, likeToRegex, length };
