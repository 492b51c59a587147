// Document keys, identifiers, revisions and names, as ArangoDB validates them
// (https://docs.arangodb.com/3.11/concepts/data-structure/documents/#document-keys,
// .../collections/#collection-names, .../databases/#database-names).
'use strict';

const { withMessage } = require('../errors');

const KEY = /^[a-zA-Z0-9_\-:.@()+,=;$!*'%]{1,254}$/;
const COLLECTION = /^[a-zA-Z_][a-zA-Z0-9_-]{0,255}$/;
const DATABASE = /^[a-zA-Z][a-zA-Z0-9_-]{0,63}$/;

/** Throws 1221 unless `key` is a valid document key. */
function checkKey(key) {
  if (typeof key !== 'string' || !KEY.test(key)) {
    throw withMessage(1221, `illegal document key: ${JSON.stringify(key)}`);
  }
  return key;
}

/** { collection, key } of a document identifier, or null. */
function parseId(id) {
  if (typeof id !== 'string') return null;
  const i = id.indexOf('/');
  if (i <= 0) return null;
  const collection = id.slice(0, i);
  const key = id.slice(i + 1);
  if (!COLLECTION.test(collection) || !KEY.test(key)) return null;
  return { collection, key };
}

function validCollectionName(name) {
  return typeof name === 'string' && COLLECTION.test(name);
}

function validDatabaseName(name) {
  return typeof name === 'string' && (name === '_system' || DATABASE.test(name));
}

let revCounter = 0;
const REV_ALPHABET = '-_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A fresh revision string in ArangoDB's style (opaque, unique, increasing). */
function newRev() {
  let n = Date.now() * 1000 + (revCounter++ % 1000);
  let s = '';
  while (n > 0) {
    s = REV_ALPHABET[n % 64] + s;
    n = Math.floor(n / 64);
  }
  return '_' + s;
}

module.exports = { checkKey, parseId, validCollectionName, validDatabaseName, newRev };
