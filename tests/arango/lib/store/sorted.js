// The entries of a persistent index in index order, for running a loop the
// way arangod's IndexNode runs it: a range of equal leading values, walked in
// the order of the following fields, stopping when the LIMIT is met.
//
// Entries are kept for every retained version of a document (any snapshot a
// running transaction can still read), so the list is a superset of what
// one snapshot sees: a reader takes a document at an entry only when the
// version it sees has exactly the entry's values (see Transaction.sortedScan).
// Built on first use, then kept up to date as versions come and go.
'use strict';

const V = require('../aql/values');
const { fieldValue } = require('./indexes');

class SortedEntries {
  constructor(index) {
    this.fields = index.fields;
    this.sparse = !!index.sparse;
    this.list = []; // { values, key, hash }, in index order
    this.byKey = new Map(); // key -> Map(hash -> entry)
  }

  /** The indexed values of `doc`, or null when the index leaves it out. */
  tuple(doc) {
    if (!doc) return null;
    const values = this.fields.map((f) => fieldValue(doc, f));
    if (this.sparse && values.some((v) => v === null)) return null;
    return values;
  }

  static compare(a, b) {
    for (let i = 0; i < a.values.length; i++) {
      const c = V.compare(a.values[i], b.values[i]);
      if (c !== 0) return c;
    }
    return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
  }

  /** The first position whose entry is not before `probe` ({ values, key }). */
  lowerBound(probe) {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (SortedEntries.compare(this.list[mid], probe) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The first position whose leading values are not before `prefix` (after: not at or before). */
  prefixBound(prefix, after) {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      let c = 0;
      for (let i = 0; i < prefix.length && c === 0; i++) c = V.compare(this.list[mid].values[i], prefix[i]);
      if (c < 0 || (after && c === 0)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Brings the entries of `key` in line with `docs`, its retained versions. */
  reindex(key, docs) {
    const want = new Map();
    for (const d of docs) {
      const t = this.tuple(d);
      if (t) want.set(V.hashKey(t), t);
    }
    const have = this.byKey.get(key) || new Map();
    for (const [h, e] of have) {
      if (want.has(h)) continue;
      const at = this.lowerBound(e);
      if (this.list[at] === e) this.list.splice(at, 1);
      have.delete(h);
    }
    for (const [h, values] of want) {
      if (have.has(h)) continue;
      const e = { values, key, hash: h };
      this.list.splice(this.lowerBound(e), 0, e);
      have.set(h, e);
    }
    if (have.size) this.byKey.set(key, have);
    else this.byKey.delete(key);
  }

  /** The entries whose leading values equal `prefix`, in index order (or reversed). */
  *range(prefix, descending) {
    const lo = this.prefixBound(prefix, false);
    const hi = this.prefixBound(prefix, true);
    if (descending) for (let i = hi - 1; i >= lo; i--) yield this.list[i];
    else for (let i = lo; i < hi; i++) yield this.list[i];
  }
}

module.exports = { SortedEntries };
