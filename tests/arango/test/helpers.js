// Test helpers: an in-process stand-in server per test file, and a small
// client (fetch, built into node 20) that logs in and calls it.
'use strict';

const { startServer } = require('../lib/server/http');

const PASSWORD = 'stand-in-secret';

/** Starts a stand-in with `options`; returns { server, client }. */
async function start(options) {
  const logs = [];
  const server = await startServer(Object.assign({ users: { root: PASSWORD }, log: (l) => logs.push(l) }, options || {}));
  const client = new Client(server.url);
  await client.login();
  return { server, client, logs };
}

class Client {
  constructor(base) {
    this.base = base;
    this.token = null;
  }

  async login(password = PASSWORD) {
    const r = await this.raw('POST', '/_open/auth', { username: 'root', password }, {});
    if (r.status !== 200) throw new Error(`login failed: ${JSON.stringify(r.body)}`);
    this.token = r.body.jwt;
    return r;
  }

  /** One request; { status, body, headers }. */
  async raw(method, path, body, headers) {
    const h = Object.assign({ 'content-type': 'application/json' }, headers);
    const r = await fetch(this.base + path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null, headers: r.headers };
  }

  call(method, path, body, headers) {
    const h = Object.assign({}, this.token ? { authorization: `bearer ${this.token}` } : {}, headers || {});
    return this.raw(method, path, body, h);
  }

  /** Creates database `name` with `collections` ({ name: { type, schema } | null }). */
  async database(name, collections) {
    const r = await this.call('POST', '/_api/database', { name });
    if (r.status !== 201) throw new Error(`create database: ${JSON.stringify(r.body)}`);
    for (const [c, def] of Object.entries(collections || {})) {
      const cr = await this.call('POST', `/_db/${name}/_api/collection`, Object.assign({ name: c }, def || {}));
      if (cr.status !== 200) throw new Error(`create collection ${c}: ${JSON.stringify(cr.body)}`);
    }
    return name;
  }

  /** Runs a query and follows every batch with POST; { result, first, batches }. */
  async query(db, query, bindVars, extra, headers) {
    const first = await this.call('POST', `/_db/${db}/_api/cursor`, Object.assign({ query, bindVars: bindVars || {} }, extra || {}), headers);
    if (first.status !== 201) return { error: first, result: null };
    const result = first.body.result.slice();
    let batches = 1;
    let cur = first.body;
    while (cur.hasMore) {
      const n = await this.call('POST', `/_db/${db}/_api/cursor/${cur.id}`, undefined, headers);
      if (n.status !== 200) throw new Error(`next batch: ${JSON.stringify(n.body)}`);
      cur = n.body;
      result.push(...cur.result);
      batches++;
    }
    return { result, first: first.body, batches };
  }

  begin(db, collections, extra) {
    return this.call('POST', `/_db/${db}/_api/transaction/begin`, Object.assign({ collections }, extra || {}));
  }
}

let dbCounter = 0;
function dbName(prefix) {
  dbCounter++;
  return `${prefix || 'test'}_${process.pid}_${dbCounter}`;
}

module.exports = { start, Client, PASSWORD, dbName };
