// Collection locks of the RocksDB engine
// (https://docs.arangodb.com/3.11/develop/transactions/locking-and-isolation/):
// a write access takes a shared lock (writers run in parallel, conflicts are
// found per document), an exclusive access takes the lock exclusively (no
// other writer meanwhile); reads never lock. Waiting is bounded by the lock
// timeout; running out of it is error 18 ("lock timeout"), answered with
// HTTP 500 (lib/Rest/GeneralResponse.cpp maps ERROR_LOCK_TIMEOUT there).
// Requests are granted in arrival order, so a waiting exclusive request is
// not starved by a stream of shared ones.
'use strict';

const { withMessage } = require('../errors');

class CollectionLock {
  constructor(name) {
    this.name = name;
    this.exclusive = null;
    this.shared = new Set();
    this.queue = [];
  }

  holds(owner, mode) {
    if (this.exclusive === owner) return true;
    return mode === 'write' && this.shared.has(owner);
  }

  grantable(owner, mode) {
    if (mode === 'exclusive') {
      return (this.exclusive === null || this.exclusive === owner) && [...this.shared].every((o) => o === owner);
    }
    return this.exclusive === null || this.exclusive === owner;
  }

  grant(owner, mode) {
    if (mode === 'exclusive') {
      this.shared.delete(owner);
      this.exclusive = owner;
    } else if (this.exclusive !== owner) {
      this.shared.add(owner);
    }
  }

  /** Waits up to `timeoutMs` (0: forever) for the lock in `mode` ('write' | 'exclusive'). */
  acquire(owner, mode, timeoutMs) {
    if (this.holds(owner, mode)) return Promise.resolve();
    if (this.queue.length === 0 && this.grantable(owner, mode)) {
      this.grant(owner, mode);
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter = { owner, mode, resolve, reject, timer: null, since: Date.now() };
      if (timeoutMs > 0) {
        waiter.timer = setTimeout(() => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(withMessage(18, `lock timeout: timed out after ${(timeoutMs / 1000).toFixed(3)} s waiting for `
            + `${mode === 'exclusive' ? 'exclusive' : 'write'}-lock on collection '${this.name}'`));
          this.pump();
        }, timeoutMs);
      }
      this.queue.push(waiter);
    });
  }

  release(owner) {
    if (this.exclusive === owner) this.exclusive = null;
    this.shared.delete(owner);
    this.queue = this.queue.filter((w) => {
      if (w.owner !== owner) return true;
      clearTimeout(w.timer);
      w.reject(withMessage(18, 'lock request abandoned'));
      return false;
    });
    this.pump();
  }

  pump() {
    while (this.queue.length && this.grantable(this.queue[0].owner, this.queue[0].mode)) {
      const w = this.queue.shift();
      clearTimeout(w.timer);
      this.grant(w.owner, w.mode);
      w.resolve();
    }
  }
}

/**
 * Takes the locks `wanted` ([{ lock, mode }]) for `owner` in collection-name
 * order (as ArangoDB does, against deadlocks); on failure releases those
 * already taken and rethrows.
 */
async function acquireAll(owner, wanted, timeoutMs) {
  const sorted = wanted.slice().sort((a, b) => (a.lock.name < b.lock.name ? -1 : a.lock.name > b.lock.name ? 1 : 0));
  const taken = [];
  try {
    for (const w of sorted) {
      await w.lock.acquire(owner, w.mode, timeoutMs);
      taken.push(w.lock);
    }
  } catch (e) {
    for (const l of taken) l.release(owner);
    throw e;
  }
  return sorted.map((w) => w.lock);
}

module.exports = { CollectionLock, acquireAll };
