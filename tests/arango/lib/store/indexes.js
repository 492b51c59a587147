// Indexes: the primary index (_key), the edge index (_from, _to) of edge
// collections, and user-defined persistent and TTL indexes
// (https://docs.arangodb.com/3.11/index-and-search/indexing/index-basics/).
//
// A sparse index leaves out every document in which at least one indexed
// attribute is null or missing; a non-sparse unique index indexes null too,
// so null may occur once. Unique indexes are enforced on every write (error
// 1210, HTTP 409) by transactions.js, with the committed entries kept here.
'use strict';

const V = require('../aql/values');
const { withMessage } = require('../errors');

let nextIndexId = 100;

function fieldValue(doc, field) {
  let v = doc;
  for (const part of field.split('.')) {
    if (V.typeOf(v) !== 'object' || !Object.prototype.hasOwnProperty.call(v, part)) return null;
    v = v[part];
  }
  return v === undefined ? null : v;
}

class Index {
  constructor(def) {
    Object.assign(this, def);
    this.committed = this.unique ? new Map() : null; // valueKey -> document key
  }

  /** The index entry of `doc` (a hash key), or null when the index leaves it out. */
  entry(doc) {
    if (!doc) return null;
    const values = this.fields.map((f) => fieldValue(doc, f));
    if (this.sparse && values.some((v) => v === null)) return null;
    return V.hashKey(values);
  }

  /** The values of `doc`'s indexed attributes (for messages). */
  values(doc) {
    return this.fields.map((f) => fieldValue(doc, f));
  }

  /** The description GET /_api/index answers with. */
  describe(collection) {
    const d = { id: `${collection}/${this.id}`, name: this.name, type: this.type, fields: this.fields.slice() };
    if (this.type === 'primary' || this.type === 'edge') {
      d.unique = this.type === 'primary';
      d.sparse = false;
    } else if (this.type === 'persistent') {
      d.unique = this.unique;
      d.sparse = this.sparse;
      d.deduplicate = true;
      d.estimates = true;
      d.cacheEnabled = false;
    } else if (this.type === 'ttl') {
      d.expireAfter = this.expireAfter;
      d.unique = false;
      d.sparse = true;
    }
    d.selectivityEstimate = 1;
    return d;
  }

  /** Whether `def` (a create request) describes this index. */
  sameAs(def) {
    return this.type === def.type && JSON.stringify(this.fields) === JSON.stringify(def.fields)
      && !!this.unique === !!def.unique && !!this.sparse === !!def.sparse
      && (this.type !== 'ttl' || this.expireAfter === def.expireAfter);
  }
}

function primaryIndex() {
  return new Index({ id: '0', name: 'primary', type: 'primary', fields: ['_key'], unique: true, sparse: false });
}

function edgeIndex() {
  return new Index({ id: '1', name: 'edge', type: 'edge', fields: ['_from', '_to'], unique: false, sparse: false });
}

/** A user index from a POST /_api/index body; throws 10 on a bad definition. */
function userIndex(body) {
  const type = body.type;
  if (type === 'hash' || type === 'skiplist') body = Object.assign({}, body, { type: 'persistent' });
  if (!['persistent', 'ttl'].includes(body.type)) {
    throw withMessage(9, `the ArangoDB stand-in does not implement ${JSON.stringify(type)} indexes (persistent and ttl only)`);
  }
  if (!Array.isArray(body.fields) || body.fields.length === 0 || !body.fields.every((f) => typeof f === 'string' && f)) {
    throw withMessage(10, 'invalid index definition: fields must be a non-empty array of attribute names');
  }
  if (body.fields.some((f) => f.includes('[*]'))) throw withMessage(9, 'the ArangoDB stand-in does not implement array indexes ([*])');
  if (body.fields.some((f) => f === '_id' || f.startsWith('_id.'))) throw withMessage(10, 'cannot index the _id attribute');
  if (body.type === 'ttl') {
    if (body.fields.length !== 1) throw withMessage(10, 'a ttl index covers exactly one attribute');
    if (typeof body.expireAfter !== 'number' || body.expireAfter < 0) throw withMessage(10, 'a ttl index needs expireAfter (seconds)');
  }
  const id = String(nextIndexId++);
  return new Index({
    id,
    name: typeof body.name === 'string' && body.name ? body.name : `idx_${id}`,
    type: body.type,
    fields: body.fields.slice(),
    unique: body.type === 'persistent' && body.unique === true,
    sparse: body.type === 'ttl' ? true : body.sparse === true,
    expireAfter: body.expireAfter,
  });
}

module.exports = { Index, primaryIndex, edgeIndex, userIndex, fieldValue };
