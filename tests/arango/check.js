#!/usr/bin/env node
// Checks AQL query texts against the rules a real ArangoDB server enforces
// (lib/aql/checker.js), without a server:
//
//   node tests/arango/check.js queries.json [--json]
//
// queries.json is either an array of queries or an object
//   {
//     "collections": ["jobs", "meta", ...],            (optional: names known to exist;
//                                                        or { "deps": { "type": "edge" } })
//     "edges": { "deps": { "from": ["jobs"], "to": ["jobs"] } },   (optional: edge definitions,
//                                                        for the WITH rule of traversals)
//     "queries": [ ... ]
//   }
// and each query is
//   { "name": "claim", "query": "FOR ...", "bindVars": ["elf", "max", "@coll"] }
// where bindVars lists the names the caller binds (collection parameters as
// "@name"), or is an object of names to values.
//
// Exits 0 when every query passes, 1 naming each violation (query, error
// number, rule, message, source), 2 when the input itself is unusable.
'use strict';

const fs = require('fs');
const { parse } = require('./lib/aql/parser');
const { check } = require('./lib/aql/checker');
const { nameOf } = require('./lib/errors');

function usage(message) {
  process.stderr.write(`check.js: ${message}\nusage: node tests/arango/check.js <queries.json> [--json]\n`);
  process.exit(2);
}

function load(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  let input;
  try {
    input = JSON.parse(text);
  } catch (e) {
    usage(`${file} is not JSON: ${e.message}`);
  }
  if (Array.isArray(input)) input = { queries: input };
  if (!input || typeof input !== 'object' || !Array.isArray(input.queries)) {
    usage(`${file} must hold an array of queries or an object with a "queries" array`);
  }
  input.queries.forEach((q, i) => {
    if (!q || typeof q.query !== 'string') usage(`query #${i} of ${file} has no "query" text`);
    if (q.bindVars !== undefined && !Array.isArray(q.bindVars) && (typeof q.bindVars !== 'object' || q.bindVars === null)) {
      usage(`query #${i} (${q.name || 'unnamed'}) of ${file}: bindVars must be an array of names or an object`);
    }
  });
  return input;
}

/** Checks every query of `input`; the list of { name, errorNum, ... } violations. */
function checkAll(input) {
  let collections = null;
  if (Array.isArray(input.collections)) collections = new Map(input.collections.map((n) => [n, { type: 2 }]));
  else if (input.collections && typeof input.collections === 'object') {
    collections = new Map(Object.entries(input.collections).map(([n, d]) => [n, { type: d && d.type === 'edge' ? 3 : 2 }]));
  }
  const out = [];
  input.queries.forEach((q, i) => {
    const name = q.name || `query #${i}`;
    const env = { collections, edgeDefinitions: input.edges || null };
    if (Array.isArray(q.bindVars)) env.bindNames = q.bindVars;
    else if (q.bindVars) env.bindVars = q.bindVars;
    else env.bindNames = [];
    try {
      const ast = parse(q.query);
      check(ast, env, (v) => out.push(Object.assign({ name }, v)));
    } catch (e) {
      if (typeof e.errorNum !== 'number') throw e;
      out.push({ name, errorNum: e.errorNum, message: e.message, rule: e.errorNum === 9 ? 'outside-the-stand-in-subset' : 'parse', source: 'arangod/Aql/grammar.y, arangod/Aql/tokens.ll' });
    }
  });
  return out;
}

function main() {
  const args = process.argv.slice(2);
  const asJson = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.length !== 1) usage('give exactly one file of queries');
  const input = load(files[0]);
  const violations = checkAll(input);
  if (asJson) {
    process.stdout.write(JSON.stringify({ checked: input.queries.length, violations }, null, 2) + '\n');
  } else {
    for (const v of violations) {
      process.stdout.write(`${v.name}: error ${v.errorNum} (${nameOf(v.errorNum)}) [${v.rule}]: ${v.message}\n    source: ${v.source}\n`);
    }
    process.stdout.write(`${input.queries.length} queries checked, ${violations.length} violation(s)\n`);
  }
  process.exit(violations.length ? 1 : 0);
}

if (require.main === module) main();

module.exports = { checkAll };
