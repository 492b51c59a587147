// Authentication: POST /_open/auth issues a JWT (HS256) that expires by time,
// like arangod's session tokens (--server.session-timeout, 3600 s by
// default; configurable here so that a client's re-login path runs in tests).
// Every other request needs `Authorization: bearer <jwt>` (or basic auth);
// a missing, forged or expired token is answered 401 with error 11,
// "not authorized to execute this request", as arangod does.
'use strict';

const crypto = require('crypto');

function b64url(buf) {
  return Buffer.from(buf).toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}

function fromB64url(s) {
  return Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

class Auth {
  constructor(options) {
    this.users = options.users; // name -> password
    this.ttlMs = options.tokenTtlMs;
    this.secret = crypto.randomBytes(32);
    this.enabled = options.authentication !== false;
    this.issued = 0;
  }

  sign(payload) {
    const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
    const body = b64url(JSON.stringify(payload));
    const sig = b64url(crypto.createHmac('sha256', this.secret).update(`${head}.${body}`).digest());
    return `${head}.${body}.${sig}`;
  }

  /** A token for `user`, or null if the password is wrong. */
  login(user, password) {
    if (typeof user !== 'string' || !Object.prototype.hasOwnProperty.call(this.users, user)) return null;
    if (this.users[user] !== (password === undefined ? '' : password)) return null;
    const now = Date.now();
    this.issued++;
    return this.sign({ preferred_username: user, iss: 'arangodb', iat: Math.floor(now / 1000), exp: (now + this.ttlMs) / 1000, jti: this.issued });
  }

  /** The user a request is authenticated as: { user } or { reason }. */
  check(header) {
    if (!this.enabled) return { user: 'root' };
    if (typeof header !== 'string' || !header) return { reason: 'no credentials' };
    const [scheme, value] = header.split(/\s+/, 2);
    if (/^basic$/i.test(scheme)) {
      const [user, ...rest] = Buffer.from(value || '', 'base64').toString('utf8').split(':');
      return this.users[user] !== undefined && this.users[user] === rest.join(':') ? { user } : { reason: 'wrong credentials' };
    }
    if (!/^bearer$/i.test(scheme) || !value) return { reason: 'unknown authorization scheme' };
    const parts = value.split('.');
    if (parts.length !== 3) return { reason: 'malformed token' };
    const expected = b64url(crypto.createHmac('sha256', this.secret).update(`${parts[0]}.${parts[1]}`).digest());
    if (expected !== parts[2]) return { reason: 'bad signature' };
    let payload;
    try {
      payload = JSON.parse(fromB64url(parts[1]).toString('utf8'));
    } catch (e) {
      return { reason: 'malformed token' };
    }
    if (typeof payload.exp === 'number' && payload.exp * 1000 <= Date.now()) return { reason: 'expired', expired: true };
    return { user: payload.preferred_username };
  }
}

module.exports = { Auth };
