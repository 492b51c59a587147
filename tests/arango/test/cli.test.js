// The two entry points as other processes use them: check.js (exit codes,
// named violations) and server.js (prints its port, exits with its stdin).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync, spawn } = require('child_process');

const DIR = path.join(__dirname, '..');

function checkFile(content) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'aql-check-')), 'queries.json');
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return spawnSync(process.execPath, [path.join(DIR, 'check.js'), file], { encoding: 'utf8' });
}

test('check.js exits 0 when every query passes', () => {
  const r = checkFile({
    collections: ['jobs', 'meta'],
    queries: [
      { name: 'runs', query: 'FOR j IN jobs FILTER j.run == @run SORT j.id RETURN j', bindVars: ['run'] },
      { name: 'reserve', query: 'FOR m IN meta FILTER m._key == "counters" UPDATE m WITH { job: m.job + @n } IN meta RETURN OLD.job', bindVars: ['n'] },
    ],
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /2 queries checked, 0 violation/);
});

test('check.js exits 1 naming each violation, its error number, rule and source', () => {
  const r = checkFile([
    { name: 'doc-after-write', query: 'INSERT {} INTO events RETURN DOCUMENT(results, "1")', bindVars: [] },
    { name: 'unused-bind', query: 'RETURN 1', bindVars: ['x'] },
    { name: 'keyword', query: 'FOR d IN docs RETURN d.sort', bindVars: [] },
  ]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /doc-after-write: error 1579 \(ERROR_QUERY_ACCESS_AFTER_MODIFICATION\) \[function-after-write\]/);
  assert.match(r.stdout, /source: arangod\/Aql\/Ast\.cpp/);
  assert.match(r.stdout, /unused-bind: error 1552/);
  assert.match(r.stdout, /keyword: error 1501/);
  assert.match(r.stdout, /3 queries checked, 3 violation/);
});

test('check.js exits 2 on input it cannot use, naming the problem', () => {
  assert.equal(checkFile('not json').status, 2);
  const r = checkFile({ queries: [{ name: 'q' }] });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /query #0 of .* has no "query" text/);
  const missing = spawnSync(process.execPath, [path.join(DIR, 'check.js'), '/no/such/file.json'], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /cannot read/);
});

test('server.js prints its port, serves, and exits when its stdin closes', async () => {
  const child = spawn(process.execPath, [path.join(DIR, 'server.js'), '--password', 'pw', '--quiet', '--token-ttl-ms', '1000'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      if (buf.includes('\n')) resolve(buf.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`exited with ${code}`)));
  });
  const port = Number(/^listening (\d+)$/.exec(line)[1]);
  const r = await fetch(`http://127.0.0.1:${port}/_open/auth`, { method: 'POST', body: JSON.stringify({ username: 'root', password: 'pw' }) });
  assert.equal(r.status, 200);
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.stdin.end();
  assert.equal(await exited, 0);
  const bad = spawnSync(process.execPath, [path.join(DIR, 'server.js'), '--nope'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --nope/);
});
