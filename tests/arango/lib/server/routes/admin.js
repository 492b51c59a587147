// Login, version, availability, and the stand-in's own counters.
'use strict';

const { json } = require('../respond');
const { withMessage } = require('../../errors');

const routes = [
  {
    // arangors' connection probe: GET / answers a redirect to the web UI.
    method: 'GET',
    pattern: /^\/?$/,
    open: true,
    handler: () => ({ status: 301, headers: { location: '/_db/_system/_admin/aardvark/index.html' } }),
  },
  {
    method: 'POST',
    pattern: /^\/_open\/auth$/,
    open: true,
    handler: (ctx) => {
      const b = ctx.body || {};
      const jwt = ctx.server.auth.login(b.username, b.password);
      if (!jwt) throw withMessage(401, 'Wrong credentials');
      return json(200, { jwt });
    },
  },
  {
    // No credentials needed: the health check of docker compose uses it.
    method: 'GET',
    pattern: /^\/_admin\/server\/availability$/,
    open: true,
    handler: () => json(200, { mode: 'default' }),
  },
  {
    method: 'GET',
    pattern: /^\/_api\/version$/,
    handler: (ctx) => json(200, { server: 'arango', version: ctx.server.options.version, license: ctx.server.options.license }),
  },
  {
    // Fault injection for tests of a client's handling of lost answers:
    // { method?, path: regex, mode: 'drop-before' | 'drop-after' | 'delay', delayMs?, count? }.
    // drop-after does the work (and commits it) and then drops the
    // connection, so the client cannot know the outcome.
    method: 'POST',
    pattern: /^\/_admin\/standin\/faults$/,
    handler: (ctx) => {
      const list = Array.isArray(ctx.body) ? ctx.body : [ctx.body];
      for (const f of list) {
        if (!f || typeof f.path !== 'string' || !['drop-before', 'drop-after', 'delay'].includes(f.mode)) {
          throw withMessage(10, 'a fault needs path (a regular expression) and mode drop-before, drop-after or delay');
        }
        try {
          new RegExp(f.path);
        } catch (e) {
          throw withMessage(10, `fault path is not a regular expression: ${e.message}`);
        }
        ctx.server.faults.push({ method: f.method || null, path: f.path, mode: f.mode, delayMs: f.delayMs || 0, count: f.count || 1 });
      }
      return json(200, { error: false, code: 200, faults: ctx.server.faults.length });
    },
  },
  {
    method: 'DELETE',
    pattern: /^\/_admin\/standin\/faults$/,
    handler: (ctx) => {
      ctx.server.faults = [];
      return json(200, { error: false, code: 200, faults: 0 });
    },
  },
  {
    // Counters for tests: deprecated calls made, conflicts met, ...
    method: 'GET',
    pattern: /^\/_admin\/standin\/stats$/,
    handler: (ctx) => json(200, Object.assign({ error: false, code: 200 }, ctx.server.stats)),
  },
];

module.exports = { routes };
