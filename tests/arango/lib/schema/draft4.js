// A JSON Schema draft-4 validator for collection schemas
// (https://docs.arangodb.com/3.11/concepts/data-structure/documents/schema-validation/):
// ArangoDB validates documents against draft 4, without remote schemas; the
// system attributes _key, _id, _rev, _from and _to are invisible to the rule.
//
// Keywords: type, enum, properties, required, additionalProperties,
// patternProperties, dependencies, minProperties, maxProperties, items,
// additionalItems, minItems, maxItems, uniqueItems, minLength, maxLength,
// pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum (booleans in
// draft 4), multipleOf, allOf, anyOf, oneOf, not, $ref (local JSON pointers
// only), definitions. Annotations (title, description, default, format,
// $schema, id) are ignored as draft 4 allows.
//
// Known gap: ArangoDB stores numbers as integers or doubles (AQL arithmetic
// yields doubles) and its validator checks "integer" against that storage
// type; JavaScript cannot tell 1 from 1.0, so here "integer" means "a whole
// number". Keep rules on "number" (+ multipleOf: 1), as the docs advise.
'use strict';

const { withMessage } = require('../errors');

const TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'integer', 'string']);
const SYSTEM = new Set(['_key', '_id', '_rev', '_from', '_to']);

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return 'number';
  return typeof v;
}

function deepEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

function resolvePointer(root, ref) {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return undefined;
  let cur = root;
  for (const raw of ref.slice(2).split('/')) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object' || !(part in cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function isType(v, t) {
  const actual = typeOf(v);
  if (t === 'integer') return actual === 'number' && Number.isInteger(v);
  return actual === t;
}

/** The first reason `value` breaks `schema` (a string), or null. */
function firstError(schema, value, root, path, depth) {
  if (depth > 64) return `${path}: schema nesting too deep`;
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return null;
  if (typeof schema.$ref === 'string') {
    const target = resolvePointer(root, schema.$ref);
    return target === undefined ? `${path}: unresolvable $ref ${schema.$ref}` : firstError(target, value, root, path, depth + 1);
  }
  const t = schema.type;
  if (t !== undefined) {
    const types = Array.isArray(t) ? t : [t];
    if (!types.some((x) => isType(value, x))) return `${path}: expected type ${types.join('|')}, got ${typeOf(value)}`;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((x) => deepEqual(x, value))) return `${path}: not one of the enum values`;
  const actual = typeOf(value);
  if (actual === 'number') {
    if (typeof schema.minimum === 'number') {
      if (schema.exclusiveMinimum === true ? value <= schema.minimum : value < schema.minimum) return `${path}: below the minimum ${schema.minimum}`;
    }
    if (typeof schema.maximum === 'number') {
      if (schema.exclusiveMaximum === true ? value >= schema.maximum : value > schema.maximum) return `${path}: above the maximum ${schema.maximum}`;
    }
    if (typeof schema.multipleOf === 'number') {
      const q = value / schema.multipleOf;
      if (Math.abs(q - Math.round(q)) > 1e-9) return `${path}: not a multiple of ${schema.multipleOf}`;
    }
  }
  if (actual === 'string') {
    const len = [...value].length;
    if (typeof schema.minLength === 'number' && len < schema.minLength) return `${path}: shorter than ${schema.minLength}`;
    if (typeof schema.maxLength === 'number' && len > schema.maxLength) return `${path}: longer than ${schema.maxLength}`;
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) return `${path}: does not match ${schema.pattern}`;
  }
  if (actual === 'array') {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) return `${path}: fewer than ${schema.minItems} items`;
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) return `${path}: more than ${schema.maxItems} items`;
    if (schema.uniqueItems === true) {
      for (let i = 0; i < value.length; i++) {
        for (let j = i + 1; j < value.length; j++) if (deepEqual(value[i], value[j])) return `${path}: items ${i} and ${j} are equal`;
      }
    }
    if (Array.isArray(schema.items)) {
      for (let i = 0; i < value.length; i++) {
        const s = i < schema.items.length ? schema.items[i] : schema.additionalItems;
        if (s === false) return `${path}: no additional items allowed`;
        const e = firstError(s, value[i], root, `${path}[${i}]`, depth + 1);
        if (e) return e;
      }
    } else if (schema.items !== undefined) {
      for (let i = 0; i < value.length; i++) {
        const e = firstError(schema.items, value[i], root, `${path}[${i}]`, depth + 1);
        if (e) return e;
      }
    }
  }
  if (actual === 'object') {
    const keys = Object.keys(value).filter((k) => !(path === '' && SYSTEM.has(k)));
    if (typeof schema.minProperties === 'number' && keys.length < schema.minProperties) return `${path}: fewer than ${schema.minProperties} attributes`;
    if (typeof schema.maxProperties === 'number' && keys.length > schema.maxProperties) return `${path}: more than ${schema.maxProperties} attributes`;
    if (Array.isArray(schema.required)) {
      for (const r of schema.required) if (!keys.includes(r)) return `${path}: missing required attribute ${r}`;
    }
    const props = schema.properties && typeof schema.properties === 'object' ? schema.properties : {};
    const patterns = schema.patternProperties && typeof schema.patternProperties === 'object'
      ? Object.entries(schema.patternProperties).map(([p, s]) => [new RegExp(p, 'u'), s]) : [];
    for (const k of keys) {
      let matched = false;
      if (Object.prototype.hasOwnProperty.call(props, k)) {
        matched = true;
        const e = firstError(props[k], value[k], root, `${path}.${k}`, depth + 1);
        if (e) return e;
      }
      for (const [re, s] of patterns) {
        if (re.test(k)) {
          matched = true;
          const e = firstError(s, value[k], root, `${path}.${k}`, depth + 1);
          if (e) return e;
        }
      }
      if (!matched && schema.additionalProperties !== undefined) {
        if (schema.additionalProperties === false) return `${path}: attribute ${k} is not allowed`;
        const e = firstError(schema.additionalProperties, value[k], root, `${path}.${k}`, depth + 1);
        if (e) return e;
      }
    }
    if (schema.dependencies && typeof schema.dependencies === 'object') {
      for (const [k, dep] of Object.entries(schema.dependencies)) {
        if (!keys.includes(k)) continue;
        if (Array.isArray(dep)) {
          for (const d of dep) if (!keys.includes(d)) return `${path}: ${k} requires ${d}`;
        } else {
          const e = firstError(dep, value, root, path, depth + 1);
          if (e) return e;
        }
      }
    }
  }
  if (Array.isArray(schema.allOf)) {
    for (const s of schema.allOf) {
      const e = firstError(s, value, root, path, depth + 1);
      if (e) return e;
    }
  }
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => firstError(s, value, root, path, depth + 1) === null)) {
    return `${path}: matches none of anyOf`;
  }
  if (Array.isArray(schema.oneOf)) {
    const n = schema.oneOf.filter((s) => firstError(s, value, root, path, depth + 1) === null).length;
    if (n !== 1) return `${path}: matches ${n} of oneOf, not exactly one`;
  }
  if (schema.not !== undefined && firstError(schema.not, value, root, path, depth + 1) === null) return `${path}: matches not`;
  return null;
}

// Keywords of later drafts that a draft-4 validator silently ignores.
const LATER_DRAFTS = ['const', '$defs', 'if', 'then', 'else', 'contains', 'propertyNames', 'examples',
  'unevaluatedProperties', 'unevaluatedItems', 'dependentRequired', 'dependentSchemas', 'prefixItems'];

/**
 * Checks that `rule` is a usable draft-4 schema; throws 1621 naming the
 * problem. Returns the keywords of later drafts it found, which a draft-4
 * validator ignores (so a rule using `const` enforces nothing there).
 */
function compile(rule) {
  const ignored = new Set();
  const bad = (why) => withMessage(1621, `invalid schema validation parameter: ${why}`);
  const visit = (s, path, depth) => {
    if (s && typeof s === 'object' && !Array.isArray(s)) for (const k of LATER_DRAFTS) if (k in s) ignored.add(`${path}.${k}`);
    if (depth > 64) throw bad(`${path}: nesting too deep`);
    if (typeof s === 'boolean') throw bad(`${path}: boolean schemas are not draft 4`);
    if (s === null || typeof s !== 'object' || Array.isArray(s)) throw bad(`${path}: a schema must be an object`);
    if (s.type !== undefined) {
      const ts = Array.isArray(s.type) ? s.type : [s.type];
      for (const t of ts) if (!TYPES.has(t)) throw bad(`${path}.type: unknown type ${JSON.stringify(t)}`);
    }
    if (s.$ref !== undefined) {
      if (typeof s.$ref !== 'string' || !s.$ref.startsWith('#')) throw bad(`${path}.$ref: remote schemas are not supported`);
      if (resolvePointer(rule, s.$ref) === undefined) throw bad(`${path}.$ref: ${s.$ref} does not resolve`);
    }
    if (s.required !== undefined) {
      if (!Array.isArray(s.required) || s.required.length === 0 || !s.required.every((r) => typeof r === 'string')) {
        throw bad(`${path}.required: draft 4 needs a non-empty array of strings`);
      }
    }
    if (s.enum !== undefined && (!Array.isArray(s.enum) || s.enum.length === 0)) throw bad(`${path}.enum: must be a non-empty array`);
    for (const k of ['exclusiveMinimum', 'exclusiveMaximum', 'uniqueItems']) {
      if (s[k] !== undefined && typeof s[k] !== 'boolean') throw bad(`${path}.${k}: draft 4 needs a boolean`);
    }
    for (const k of ['minimum', 'maximum', 'multipleOf']) {
      if (s[k] !== undefined && typeof s[k] !== 'number') throw bad(`${path}.${k}: must be a number`);
    }
    if (typeof s.multipleOf === 'number' && !(s.multipleOf > 0)) throw bad(`${path}.multipleOf: must be greater than 0`);
    for (const k of ['minLength', 'maxLength', 'minItems', 'maxItems', 'minProperties', 'maxProperties']) {
      if (s[k] !== undefined && !(Number.isInteger(s[k]) && s[k] >= 0)) throw bad(`${path}.${k}: must be a non-negative integer`);
    }
    if (s.pattern !== undefined) {
      try {
        new RegExp(s.pattern, 'u');
      } catch (e) {
        throw bad(`${path}.pattern: ${e.message}`);
      }
    }
    for (const k of ['properties', 'patternProperties', 'definitions']) {
      if (s[k] !== undefined) {
        if (s[k] === null || typeof s[k] !== 'object') throw bad(`${path}.${k}: must be an object`);
        for (const [n, sub] of Object.entries(s[k])) visit(sub, `${path}.${k}.${n}`, depth + 1);
      }
    }
    for (const k of ['allOf', 'anyOf', 'oneOf']) {
      if (s[k] !== undefined) {
        if (!Array.isArray(s[k]) || s[k].length === 0) throw bad(`${path}.${k}: must be a non-empty array`);
        s[k].forEach((sub, i) => visit(sub, `${path}.${k}[${i}]`, depth + 1));
      }
    }
    if (s.not !== undefined) visit(s.not, `${path}.not`, depth + 1);
    if (s.items !== undefined) {
      if (Array.isArray(s.items)) s.items.forEach((sub, i) => visit(sub, `${path}.items[${i}]`, depth + 1));
      else visit(s.items, `${path}.items`, depth + 1);
    }
    for (const k of ['additionalProperties', 'additionalItems']) {
      if (s[k] !== undefined && typeof s[k] !== 'boolean') visit(s[k], `${path}.${k}`, depth + 1);
    }
  };
  visit(rule, 'rule', 0);
  return { rule, ignored: [...ignored] };
}

/** Whether `doc` satisfies `rule`; { ok, reason }. */
function validate(rule, doc) {
  const reason = firstError(rule, doc, rule, '', 0);
  return { ok: reason === null, reason };
}

module.exports = { compile, validate };
