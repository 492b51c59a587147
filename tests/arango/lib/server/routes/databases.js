// Databases (https://docs.arangodb.com/3.11/develop/http-api/databases/):
// created and dropped through _system; creating one that exists is error
// 1207 (ERROR_ARANGO_DUPLICATE_NAME, HTTP 409), an invalid name 1229.
'use strict';

const { json } = require('../respond');
const { withMessage } = require('../../errors');

function systemOnly(ctx) {
  if (ctx.dbName !== '_system') throw withMessage(1230, 'operation only allowed in system database');
  ctx.db();
}

const routes = [
  {
    method: 'GET',
    pattern: /^\/_api\/database$/,
    handler: (ctx) => {
      systemOnly(ctx);
      return json(200, { error: false, code: 200, result: [...ctx.server.store.databases.keys()] });
    },
  },
  {
    method: 'GET',
    pattern: /^\/_api\/database\/user$/,
    handler: (ctx) => json(200, { error: false, code: 200, result: [...ctx.server.store.databases.keys()] }),
  },
  {
    method: 'GET',
    pattern: /^\/_api\/database\/current$/,
    handler: (ctx) => {
      const db = ctx.db();
      return json(200, { error: false, code: 200, result: { name: db.name, id: db.id, isSystem: db.name === '_system', path: '', sharding: '', replicationFactor: 1, writeConcern: 1 } });
    },
  },
  {
    method: 'POST',
    pattern: /^\/_api\/database$/,
    handler: (ctx) => {
      systemOnly(ctx);
      ctx.server.store.createDatabase(ctx.body || {});
      return json(201, { error: false, code: 201, result: true });
    },
  },
  {
    method: 'DELETE',
    pattern: /^\/_api\/database\/([^/]+)$/,
    handler: (ctx) => {
      systemOnly(ctx);
      ctx.server.store.dropDatabase(ctx.params[0]);
      return json(200, { error: false, code: 200, result: true });
    },
  },
];

module.exports = { routes };
