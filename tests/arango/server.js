#!/usr/bin/env node
// Starts the strict ArangoDB stand-in: `node tests/arango/server.js [options]`.
// Prints `listening <port>` once ready; exits when its stdin closes (so a
// test process that spawned it with a piped stdin never leaks it).
//
// Options (all optional):
//   --port N                    listen port (0: a free one; the default)
//   --host H                    listen address (127.0.0.1)
//   --password PW               password of user root ('' by default; also ARANGO_STANDIN_PASSWORD)
//   --no-auth                   accept requests without credentials
//   --token-ttl-ms N            lifetime of the JWTs /_open/auth issues (3600000)
//   --batch-size N              default cursor batch size (2; arangod: 1000)
//   --max-batch-size N          cap on any cursor batch size (none)
//   --put-cursor MODE           allow | warn | refuse the deprecated PUT /_api/cursor/{id} (warn)
//   --lock-timeout-s N          default lockTimeout of Stream Transactions (900)
//   --query-lock-timeout-s N    lock wait of standalone queries and document requests (900)
//   --idle-timeout-ms N         Stream Transaction idle timeout (60000)
//   --streaming-lock-timeout-ms N  wait for a Stream Transaction in use by another request (8000)
//   --query-delay-ms N          pause between a query's snapshot and its execution (0)
//   --no-require-with           do not enforce WITH for traversals (single-server default)
//   --version V                 version reported by /_api/version (3.11.14)
//   --clock-offset-ms N         the server's clock (DATE_NOW()) runs N ms ahead of this machine's (may be negative)
//   --quiet                     no log lines on stderr
'use strict';

const { startServer } = require('./lib/server/http');

function parseArgs(argv) {
  const o = {};
  const num = (v, name) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} needs a non-negative number, not ${JSON.stringify(v)}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--port': o.port = num(next(), a); break;
      case '--host': o.host = next(); break;
      case '--password': o.password = next(); break;
      case '--no-auth': o.authentication = false; break;
      case '--token-ttl-ms': o.tokenTtlMs = num(next(), a); break;
      case '--batch-size': o.defaultBatchSize = num(next(), a); break;
      case '--max-batch-size': o.maxBatchSize = num(next(), a); break;
      case '--put-cursor': {
        o.putCursor = next();
        if (!['allow', 'warn', 'refuse'].includes(o.putCursor)) throw new Error('--put-cursor takes allow, warn or refuse');
        break;
      }
      case '--lock-timeout-s': o.defaultLockTimeoutS = num(next(), a); break;
      case '--query-lock-timeout-s': o.queryLockTimeoutS = num(next(), a); break;
      case '--idle-timeout-ms': o.idleTimeoutMs = num(next(), a); break;
      case '--streaming-lock-timeout-ms': o.streamingLockTimeoutMs = num(next(), a); break;
      case '--query-delay-ms': o.queryDelayMs = num(next(), a); break;
      case '--no-require-with': o.requireWith = false; break;
      case '--version': o.version = next(); break;
      case '--clock-offset-ms': {
        const v = next();
        o.clockOffsetMs = Number(v);
        if (!Number.isInteger(o.clockOffsetMs)) throw new Error(`${a} needs a whole number of milliseconds, not ${JSON.stringify(v)}`);
        break;
      }
      case '--quiet': o.log = () => {}; break;
      default: throw new Error(`unknown option ${a} (see the head of tests/arango/server.js)`);
    }
  }
  const password = o.password !== undefined ? o.password : process.env.ARANGO_STANDIN_PASSWORD || '';
  delete o.password;
  o.users = { root: password };
  return o;
}

async function main() {
  let options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`arango stand-in: ${e.message}\n`);
    process.exit(2);
  }
  const server = await startServer(options);
  process.stdout.write(`listening ${server.port}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => server.close().then(() => process.exit(0)));
  process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
}

main().catch((e) => {
  process.stderr.write(`arango stand-in failed to start: ${e.stack || e}\n`);
  process.exit(1);
});
