// AQL values: types, the documented type and value order, equality,
// truthiness and the implicit conversions of operators and functions.
//
// Type order (https://docs.arangodb.com/3.11/aql/fundamentals/type-and-value-order/):
//   null < bool < number < string < array < object
// Arrays compare element by element (a missing element counts as null);
// objects compare over the sorted union of their attribute names (a missing
// attribute counts as null). Strings compare with a language collation
// (ICU, the server's default language); Intl.Collator('en') stands in for it.
// Conversions: https://docs.arangodb.com/3.11/aql/fundamentals/type-and-value-order/
// and https://docs.arangodb.com/3.11/aql/functions/type-check-and-cast/
'use strict';

const TYPE_ORDER = { null: 0, bool: 1, number: 2, string: 3, array: 4, object: 5 };
const collator = new Intl.Collator('en', { sensitivity: 'variant', numeric: false });

/** The AQL type name of `v`. */
function typeOf(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'array';
  return 'object';
}

function compareStrings(a, b) {
  if (a === b) return 0;
  const c = collator.compare(a, b);
  if (c !== 0) return c < 0 ? -1 : 1;
  return a < b ? -1 : 1;
}

/** -1, 0 or 1: the AQL order of `a` and `b`. */
function compare(a, b) {
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) return TYPE_ORDER[ta] < TYPE_ORDER[tb] ? -1 : 1;
  switch (ta) {
    case 'null':
      return 0;
    case 'bool':
      return a === b ? 0 : a ? 1 : -1;
    case 'number':
      return a === b ? 0 : a < b ? -1 : 1;
    case 'string':
      return compareStrings(a, b);
    case 'array': {
      const n = Math.max(a.length, b.length);
      for (let i = 0; i < n; i++) {
        const c = compare(i < a.length ? a[i] : null, i < b.length ? b[i] : null);
        if (c !== 0) return c;
      }
      return 0;
    }
    default: {
      const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
      for (const k of names) {
        const c = compare(k in a ? a[k] : null, k in b ? b[k] : null);
        if (c !== 0) return c;
      }
      return 0;
    }
  }
}

/** AQL `==`: equal under the type and value order, strings compared exactly. */
function equals(a, b) {
  const ta = typeOf(a);
  if (ta !== typeOf(b)) return false;
  if (ta === 'string') return a === b;
  if (ta === 'array') return a.length === b.length && a.every((x, i) => equals(x, b[i]));
  if (ta === 'object') {
    const names = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of names) if (!equals(k in a ? a[k] : null, k in b ? b[k] : null)) return false;
    return true;
  }
  return compare(a, b) === 0;
}

/** AQL truthiness: null, false, 0 and "" are false; arrays and objects are true. */
function truthy(v) {
  switch (typeOf(v)) {
    case 'null':
      return false;
    case 'bool':
      return v;
    case 'number':
      return v !== 0 && !Number.isNaN(v);
    case 'string':
      return v.length > 0;
    default:
      return true;
  }
}

/** TO_NUMBER. */
function toNumber(v) {
  switch (typeOf(v)) {
    case 'null':
      return 0;
    case 'bool':
      return v ? 1 : 0;
    case 'number':
      return Number.isFinite(v) ? v : 0;
    case 'string': {
      const s = v.trim();
      if (s === '') return 0;
      if (!/^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$/.test(s) && !/^0x[0-9a-fA-F]+$|^0b[01]+$/.test(s)) return 0;
      const n = Number(s);
      return Number.isFinite(n) ? n : 0;
    }
    case 'array':
      if (v.length === 0) return 0;
      if (v.length === 1) return toNumber(v[0]);
      return 0;
    default:
      return 0;
  }
}

/** A number as AQL prints it (TO_STRING, CONCAT). */
function numberToString(n) {
  if (!Number.isFinite(n)) return 'null';
  if (Object.is(n, -0)) return '0';
  return String(n);
}

/** TO_STRING. */
function toString(v) {
  switch (typeOf(v)) {
    case 'null':
      return '';
    case 'bool':
      return v ? 'true' : 'false';
    case 'number':
      return numberToString(v);
    case 'string':
      return v;
    default:
      return JSON.stringify(v);
  }
}

/** TO_BOOL. */
function toBool(v) {
  return truthy(v);
}

/** TO_ARRAY. */
function toArray(v) {
  switch (typeOf(v)) {
    case 'null':
      return [];
    case 'array':
      return v;
    case 'object':
      return Object.values(v);
    default:
      return [v];
  }
}

/** A deep copy of a JSON value (documents handed out never alias storage). */
function clone(v) {
  if (v === undefined) return null;
  if (v === null || typeof v !== 'object') return v;
  return JSON.parse(JSON.stringify(v));
}

/** Normalises a value produced by evaluation: undefined -> null, non-finite numbers -> null. */
function normalize(v) {
  if (v === undefined) return null;
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
}

/** A stable string key for hashing values by AQL equality (COLLECT, DISTINCT, indexes). */
function hashKey(v) {
  switch (typeOf(v)) {
    case 'null':
      return 'n';
    case 'bool':
      return v ? 't' : 'f';
    case 'number':
      return 'd' + numberToString(v);
    case 'string':
      return 's' + JSON.stringify(v);
    case 'array':
      return '[' + v.map(hashKey).join(',') + ']';
    default: {
      const names = Object.keys(v).filter((k) => v[k] !== null && v[k] !== undefined).sort();
      return '{' + names.map((k) => JSON.stringify(k) + ':' + hashKey(v[k])).join(',') + '}';
    }
  }
}

/** TYPENAME(). */
function typeName(v) {
  const t = typeOf(v);
  return t === 'bool' ? 'bool' : t;
}

module.exports = {
  typeOf,
  compare,
  equals,
  truthy,
  toNumber,
  toString,
  toBool,
  toArray,
  clone,
  normalize,
  hashKey,
  typeName,
  numberToString,
  compareStrings,
};
