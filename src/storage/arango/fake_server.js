// A stand-in for an ArangoDB server, for tests on machines where none can
// be installed: just enough of the HTTP API (login with expiring tokens,
// databases, collections, indexes, graphs, AQL cursors, JavaScript
// transactions) over the in-memory database of fake_db.js.
//
// It is NOT ArangoDB. Transactions run the very action text the store sends
// (actions.js); AQL is played by JavaScript that mirrors the meaning of each
// query the store sends (an unknown query is an error). Requests run one at
// a time, like writers under the store's exclusive lock. What it checks is
// the store's side: HTTP client, token renewal, request and answer shapes,
// decoding, and the lifecycle end to end.
//
// Prints `listening <port>` when ready; exits when its stdin closes.
'use strict';
const http = require('http');
const { clone, arangoError, loadActions, database, queries, byId } = require('./fake_db.js');

const M = loadActions();
const dbs = new Map();
const tokens = new Map(); // token -> requests left before it "expires"
const TOKEN_USES = 500;
let issued = 0;

const reply = (res, code, body, headers) => {
  const text = JSON.stringify(body);
  res.writeHead(code, Object.assign({ 'content-type': 'application/json', server: 'ArangoDB' }, headers || {}));
  res.end(text);
};
const fail = (res, code, num, message) => reply(res, code, { error: true, code, errorNum: num, errorMessage: message });

function need(db, name) {
  const c = db.cols[name];
  if (!c) throw arangoError(1203, `collection or view not found: ${name}`);
  return c;
}

function field(doc, dotted) {
  return dotted.split('.').reduce((v, k) => (v == null ? undefined : v[k]), doc);
}

function nextSeq(db, n) {
  const counters = db.cols.meta.document('counters');
  db.cols.meta.update('counters', { seq: counters.seq + n });
  return counters.seq;
}

// The claim query of aql.rs.
function claim(db, b) {
  const jobs = need(db, 'jobs');
  const now = Date.now();
  const overdue = jobs.values().some((j) => j.lease_until != null && j.lease_until < now);
  const picked = jobs.values()
    .filter((j) => j.ready_elf === b.elf && j.state === 'ready' && j.not_before <= now && b.tasks.includes(j.task))
    .sort((x, y) => x.rank - y.rank || x.id - y.id).slice(0, b.max).sort(byId);
  const claimed = picked.map((j) => {
    jobs.update(j._key, {
      state: 'claimed', ready_elf: null, holder: b.instance, epoch: j.epoch + 1, attempt: j.attempt + 1,
      lease_until: now + b.ttl, started_at: now, updated_at: now,
    }, { mergeObjects: false });
    return jobs.document(j._key);
  });
  const base = claimed.length > 0 ? nextSeq(db, claimed.length) : null;
  claimed.forEach((c, i) => {
    db.cols.events.insert({
      _key: String(base + i + 1), seq: base + i + 1, at: now, kind: 'job_state', run: c.run, job: c.id,
      state: 'claimed', data: { epoch: c.epoch, attempt: c.attempt, holder: b.instance }, expires: Math.floor(now / 1000),
    });
  });
  return [{
    overdue,
    claimed: claimed.map((c) => ({
      job: c.id, epoch: c.epoch, run: c.run, task: c.task, args: c.args, attempt: c.attempt,
      max_attempts: c.max_attempts, timeout_ms: c.timeout_ms, lease_until: c.lease_until,
      inputs: c.producers.filter((p) => db.cols.results.docs.has(String(p)))
        .map((p) => [p, db.cols.results.docs.get(String(p)).value]),
    })),
  }];
}

// `FOR x IN coll [FILTER x.f OP @v]* SORT x.f [DESC] [LIMIT @limit] RETURN x`
function generic(db, text, b) {
  const lines = text.split('\n').map((l) => l.trim());
  const head = lines[0].match(/^FOR (\w+) IN (\w+)$/);
  if (!head) return null;
  let rows = need(db, head[2]).values();
  let limit = null;
  for (const line of lines.slice(1)) {
    let m;
    if ((m = line.match(/^FILTER \w+\.([\w.]+) (==|>|>=|IN) @(\w+)$/))) {
      const [, f, op, v] = m;
      rows = rows.filter((r) => {
        const x = field(r, f);
        if (op === '==') return x === b[v];
        if (op === '>') return x != null && x > b[v];
        if (op === '>=') return x != null && x >= b[v];
        return b[v].includes(x);
      });
    } else if ((m = line.match(/^SORT \w+\.(\w+)( DESC)?$/))) {
      const [, f, desc] = m;
      rows.sort((x, y) => (desc ? y[f] - x[f] : x[f] - y[f]));
    } else if (line === 'LIMIT @limit') {
      limit = b.limit;
    } else if (!/^RETURN \w+$/.test(line)) {
      return null;
    }
  }
  return limit === null ? rows : rows.slice(0, limit);
}

function aql(db, text, b) {
  const c = db.cols;
  if (text.includes('LET overdue')) return claim(db, b);
  if (text.startsWith('RETURN [DOCUMENT(meta, "schema").version')) {
    const meta = need(db, 'meta');
    return [[meta.docs.has('schema') ? meta.document('schema').version : null, meta.docs.has('counters')]];
  }
  if (text.startsWith('INSERT @counters INTO meta')) {
    if (!c.meta.docs.has('counters')) c.meta.insert(b.counters);
    return [];
  }
  if (text.startsWith('UPSERT { _key: "schema" }')) {
    if (c.meta.docs.has('schema')) c.meta.update('schema', { version: Math.max(c.meta.document('schema').version, b.version) });
    else c.meta.insert({ _key: 'schema', version: b.version });
    return [];
  }
  if (text.includes('UPDATE m WITH { job: m.job + @jobs')) {
    const counters = c.meta.document('counters');
    c.meta.update('counters', { job: counters.job + b.jobs, run: counters.run + 1 });
    return [{ job: counters.job, run: counters.run }];
  }
  if (text.includes('FILTER r.idem_key == @key')) {
    return c.runs.values().filter((r) => r.idem_key === b.key).slice(0, 1)
      .map((r) => ({ run: r.id, jobs: c.jobs.values().filter((j) => j.run === r.id).sort(byId).map((j) => j.id) }));
  }
  if (text === 'RETURN DOCUMENT(meta, "counters").seq') return [c.meta.document('counters').seq];
  let m = text.match(/^RETURN DOCUMENT\((\w+), @key\)$/);
  if (m) {
    const coll = need(db, m[1]);
    return [coll.docs.has(b.key) ? coll.document(b.key) : null];
  }
  if (text.startsWith('FOR n IN task_names')) {
    return c.task_names.values().filter((n) => n.elf === b.elf && n.task === b.task)
      .sort((x, y) => x.first_seen - y.first_seen || (x.sha < y.sha ? -1 : 1))
      .filter((n) => c.tasks.docs.has(n.sha))
      .map((n) => Object.assign(c.tasks.document(n.sha), { elf: n.elf, name: n.task }));
  }
  if (text === 'FOR e IN elves SORT e.started_at DESC, e.instance RETURN e') {
    return c.elves.values().sort((x, y) => y.started_at - x.started_at || (x.instance < y.instance ? -1 : 1));
  }
  if (text.startsWith('FOR d IN deps')) {
    return c.deps.values().filter((d) => d.run === b.run)
      .sort((x, y) => x.consumer - y.consumer || (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))
      .map((d) => ({ producer: d.producer, consumer: d.consumer, path: d.path }));
  }
  if (text.startsWith('FOR k IN @keys')) {
    return b.keys.filter((k) => c.results.docs.has(k)).map((k) => c.results.document(k))
      .sort((x, y) => x.job - y.job).map((r) => [r.job, r.value]);
  }
  const rows = generic(db, text, b);
  if (rows !== null) return rows;
  throw arangoError(1501, `the stand-in server does not know this query: ${text}`);
}

// The action text the store sends, run against `db` with a stand-in
// `require('@arangodb')`.
function transaction(db, action, params) {
  const named = queries(db, M.QUERIES);
  const byText = new Map(Object.entries(M.QUERIES).map(([name, text]) => [text, name]));
  const arangodb = {
    db: {
      _collection: (n) => db.cols[n] || null,
      _query: (text, binds) => {
        const name = byText.get(text);
        if (!name) throw arangoError(1501, `unknown query in a transaction: ${text}`);
        return { toArray: () => clone(named(name, binds)) };
      },
    },
  };
  const fn = new Function('require', 'return (' + action + ');')((m) => {
    if (m === '@arangodb') return arangodb;
    throw new Error(`cannot require ${m}`);
  });
  return clone(fn(clone(params)));
}

function route(req, res, body) {
  const url = new URL(req.url, 'http://fake');
  let p = url.pathname;
  let name = '_system';
  const m = p.match(/^\/_db\/([^/]+)(\/.*)$/);
  if (m) {
    name = m[1];
    p = m[2];
  }
  if (req.method === 'GET' && (p === '/' || p === '')) {
    res.writeHead(301, { location: '/_db/_system/_admin/aardvark/index.html', server: 'ArangoDB' });
    return res.end();
  }
  if (p === '/_open/auth') {
    if (body.password !== (process.env.FAKE_ARANGO_PASSWORD || '')) return fail(res, 401, 401, 'Wrong credentials');
    const token = 'fake-jwt-' + ++issued;
    tokens.set(token, TOKEN_USES);
    return reply(res, 200, { jwt: token });
  }
  const auth = (req.headers.authorization || '').replace(/^bearer /i, '');
  const left = tokens.get(auth);
  if (!left) return fail(res, 401, 11, 'not authorized to execute this request');
  tokens.set(auth, left - 1);
  if (left - 1 === 0) tokens.delete(auth);

  if (name === '_system' && p === '/_api/database' && req.method === 'POST') {
    if (dbs.has(body.name)) return fail(res, 409, 1229, 'duplicate database name');
    dbs.set(body.name, database(false));
    return reply(res, 201, { error: false, code: 201, result: true });
  }
  const drop = p.match(/^\/_api\/database\/([^/]+)$/);
  if (name === '_system' && drop && req.method === 'DELETE') {
    if (!dbs.delete(drop[1])) return fail(res, 404, 1228, 'database not found');
    return reply(res, 200, { error: false, code: 200, result: true });
  }
  const db = dbs.get(name);
  if (!db) return fail(res, 404, 1228, 'database not found');
  if (p === '/_api/database/current') {
    return reply(res, 200, { error: false, code: 200, result: { name, id: '1', isSystem: false, path: '' } });
  }
  if (p === '/_api/collection' && req.method === 'POST') {
    if (!db.create(body.name)) return fail(res, 409, 1207, 'duplicate name');
    return reply(res, 200, { error: false, code: 200, name: body.name });
  }
  if (/^\/_api\/collection\/\w+\/properties$/.test(p)) return reply(res, 200, { error: false, code: 200 });
  if (p === '/_api/index') return reply(res, 201, { error: false, code: 201, id: 'x/1', isNewlyCreated: true });
  if (p === '/_api/gharial') {
    if (db.graph) return fail(res, 409, 1925, 'graph already exists');
    db.graph = body;
    return reply(res, 202, { error: false, code: 202, graph: body });
  }
  try {
    if (p === '/_api/cursor') {
      const result = db.atomically(() => aql(db, body.query, body.bindVars || {}));
      return reply(res, 201, { error: false, code: 201, result, hasMore: false, cached: false, extra: {} });
    }
    if (p === '/_api/transaction') {
      assert(body.collections.exclusive.includes('meta'), 'every transaction takes the writer lock');
      const result = db.atomically(() => transaction(db, body.action, body.params));
      return reply(res, 200, { error: false, code: 200, result: result === undefined ? null : result });
    }
  } catch (e) {
    return fail(res, e.errorNum ? 409 : 500, e.errorNum || 1650, String(e.stack || e));
  }
  return fail(res, 404, 404, `the stand-in server has no ${req.method} ${p}`);
}

function assert(ok, message) {
  if (!ok) throw new Error(message);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    let body = {};
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch (e) {
        return fail(res, 400, 600, 'malformed JSON');
      }
    }
    route(req, res, body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
