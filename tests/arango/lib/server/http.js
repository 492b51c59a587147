// The stand-in's HTTP server (node's http module): requests are served
// concurrently, each as its own async task, so lock waits, lock timeouts and
// transaction conflicts between concurrent clients are real.
//
// URL layout as arangod: /_db/<database>/<api path>, /<api path> meaning
// _system. Every answer carries `Server: ArangoDB` (arangors checks it).
'use strict';

const http = require('http');
const { URL } = require('url');
const { ArangoError, withMessage } = require('../errors');
const { Store } = require('../store/database');
const { TransactionManager } = require('../store/transactions');
const { Auth } = require('./auth');
const { Cursors } = require('./cursors');
const { json } = require('./respond');

const ROUTES = [
  ...require('./routes/admin').routes,
  ...require('./routes/databases').routes,
  ...require('./routes/collections').routes,
  ...require('./routes/documents').routes,
  ...require('./routes/cursors').routes,
  ...require('./routes/transactions').routes,
];

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  users: { root: '' },
  authentication: true,
  tokenTtlMs: 3600 * 1000, // --server.session-timeout
  version: '3.11.14',
  license: 'community',
  defaultBatchSize: 2, // arangod uses 1000; small batches make every client fetch next batches
  maxBatchSize: Infinity, // set low to force small batches whatever the client asks for
  cursorTtlS: 30,
  putCursor: 'warn', // 'allow' | 'warn' | 'refuse': the deprecated PUT /_api/cursor/{id} (removed in 4.0)
  defaultLockTimeoutS: 900, // Stream Transactions without lockTimeout
  queryLockTimeoutS: 900, // standalone AQL queries (no option for it in the cursor API)
  idleTimeoutMs: 60 * 1000, // --transaction.streaming-idle-timeout
  streamingLockTimeoutMs: 8 * 1000, // --transaction.streaming-lock-timeout
  tombstoneMs: 10 * 60 * 1000,
  requireWith: true, // --query.require-with (clusters always behave so)
  queryDelayMs: 0, // extra delay between a query's snapshot and its execution (to widen races in tests)
  clockOffsetMs: 0, // the server's clock (DATE_NOW()) runs this far ahead of the machine's (negative: behind)
  log: null,
};

class StandInServer {
  constructor(options) {
    this.options = Object.assign({}, DEFAULTS, options || {});
    const logger = this.options.log || ((line) => process.stderr.write(`[arango stand-in] ${line}\n`));
    this.log = logger;
    this.store = new Store({ log: logger });
    this.store.clockOffsetMs = this.options.clockOffsetMs;
    this.transactions = new TransactionManager(this.store, this.options);
    this.auth = new Auth(this.options);
    this.cursors = new Cursors(this);
    this.stats = {
      requests: 0, deprecatedPutCursor: 0, jsTransactionsRefused: 0, conflicts: 0, lockTimeouts: 0, expiredTokens: 0,
      unauthorized: 0, schemaViolations: 0, uniqueViolations: 0, checkerViolations: {}, errors: {},
    };
    this.faults = []; // injected by POST /_admin/standin/faults
    this.http = http.createServer((req, res) => this.handle(req, res));
    this.http.keepAliveTimeout = 60 * 1000;
  }

  listen() {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(this.options.port, this.options.host, () => {
        const { port } = this.http.address();
        this.port = port;
        this.url = `http://${this.options.host}:${port}`;
        resolve(this);
      });
    });
  }

  close() {
    this.transactions.stop();
    this.cursors.stop();
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      if (this.http.closeAllConnections) this.http.closeAllConnections();
    });
  }

  count(e) {
    if (!(e instanceof ArangoError)) return;
    this.stats.errors[e.errorNum] = (this.stats.errors[e.errorNum] || 0) + 1;
    if (e.errorNum === 1200) this.stats.conflicts++;
    if (e.errorNum === 18) this.stats.lockTimeouts++;
    if (e.errorNum === 1620) this.stats.schemaViolations++;
    if (e.errorNum === 1210) this.stats.uniqueViolations++;
    if (e.rule) this.stats.checkerViolations[e.rule] = (this.stats.checkerViolations[e.rule] || 0) + 1;
  }

  send(res, out) {
    const headers = Object.assign({ 'content-type': 'application/json; charset=utf-8', server: 'ArangoDB', connection: 'Keep-Alive' }, out.headers || {});
    if (out.status === 301 || out.body === undefined) {
      res.writeHead(out.status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(out.body);
    headers['content-length'] = Buffer.byteLength(text);
    res.writeHead(out.status, headers);
    res.end(out.head ? undefined : text);
  }

  /** The first injected fault matching this request (consumed), or null. */
  fault(req) {
    const path = req.url.split('?')[0];
    const f = this.faults.find((x) => (!x.method || x.method === req.method) && new RegExp(x.path).test(path));
    if (!f) return null;
    if (--f.count <= 0) this.faults.splice(this.faults.indexOf(f), 1);
    this.stats.faultsInjected = (this.stats.faultsInjected || 0) + 1;
    this.log(`injected fault ${f.mode} on ${req.method} ${path}`);
    return f;
  }

  async handle(req, res) {
    this.stats.requests++;
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    await new Promise((r) => req.on('end', r));
    const fault = this.fault(req);
    if (fault && fault.mode === 'drop-before') {
      req.socket.destroy();
      return;
    }
    if (fault && fault.mode === 'delay') await new Promise((r) => setTimeout(r, fault.delayMs));
    let out;
    try {
      out = await this.dispatch(req, Buffer.concat(chunks).toString('utf8'));
    } catch (e) {
      if (e instanceof ArangoError) {
        this.count(e);
        const body = e.body();
        if (e.standinReason) body.standinReason = e.standinReason;
        if (e.rule) body.standinRule = { rule: e.rule, source: e.source };
        out = json(e.precondition ? 412 : e.code, Object.assign(body, e.precondition ? { code: 412, _rev: e._rev } : {}));
      } else {
        this.log(`internal error: ${e && e.stack ? e.stack : e}`);
        out = json(500, { error: true, code: 500, errorNum: 4, errorMessage: `internal error in the stand-in: ${e && e.message}` });
      }
    }
    if (fault && fault.mode === 'drop-after') {
      // The work is done (and committed) but the answer never arrives.
      req.socket.destroy();
      return;
    }
    this.send(res, out);
  }

  async dispatch(req, text) {
    const url = new URL(req.url, 'http://stand-in');
    let path = decodeURIComponent(url.pathname);
    let dbName = '_system';
    const m = /^\/_db\/([^/]+)(\/.*)?$/.exec(path);
    if (m) {
      dbName = m[1];
      path = m[2] || '/';
    }
    const method = req.method;
    const route = ROUTES.find((r) => (r.method === method || (r.method === 'GET' && method === 'HEAD')) && r.pattern.test(path));
    if (!route) {
      const any = ROUTES.some((r) => r.pattern.test(path));
      if (any) throw withMessage(405, `method not supported: ${method} ${path}`);
      throw withMessage(404, `unknown path '${path}' (the ArangoDB stand-in serves only the APIs tests/arango/README.md lists)`);
    }
    let user = null;
    if (!route.open) {
      const a = this.auth.check(req.headers.authorization);
      if (!a.user) {
        this.stats.unauthorized++;
        if (a.expired) this.stats.expiredTokens++;
        throw withMessage(11, 'not authorized to execute this request', { code: 401 });
      }
      user = a.user;
    }
    let body = null;
    if (text.length) {
      try {
        body = JSON.parse(text);
      } catch (e) {
        throw withMessage(600, `invalid JSON object: ${e.message}`);
      }
      unsafeIntegers(text);
    }
    const ctx = {
      server: this, req, method, path, dbName, user, body, query: url.searchParams,
      params: route.pattern.exec(path).slice(1).map((p) => (p === undefined ? p : decodeURIComponent(p))),
      trxId: req.headers['x-arango-trx-id'] || null,
      db: () => this.store.database(dbName),
    };
    const out = await route.handler(ctx);
    if (method === 'HEAD') out.head = true;
    return out;
  }
}

/**
 * Refuses integers JavaScript cannot hold exactly. ArangoDB keeps 64-bit
 * integers as they are; JSON.parse would round them silently, which could
 * hide (or fake) a defect, so the stand-in says so instead.
 */
function unsafeIntegers(text) {
  // A scanner, not a regular expression over the whole body: V8's regexp
  // engine runs out of stack on the long strings of large payloads.
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 34) { // a string: skip it, escapes included
      i++;
      while (i < n && text.charCodeAt(i) !== 34) i += text.charCodeAt(i) === 92 ? 2 : 1;
      i++;
      continue;
    }
    if (c === 45 || (c >= 48 && c <= 57)) { // a number
      const start = i;
      i++;
      while (i < n && /[0-9.eE+-]/.test(text[i])) i++;
      const m = text.slice(start, i);
      if (/[.eE]/.test(m) || m.replace('-', '').length < 16) continue;
      const big = BigInt(m);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
        throw withMessage(9, `the ArangoDB stand-in cannot hold the integer ${m} exactly (beyond 2^53; ArangoDB keeps 64-bit `
          + 'integers, JavaScript would round it): send such numbers as strings, or test them against a real server');
      }
      continue;
    }
    i++;
  }
}

async function startServer(options) {
  const s = new StandInServer(options);
  await s.listen();
  return s;
}

module.exports = { StandInServer, startServer, DEFAULTS };
