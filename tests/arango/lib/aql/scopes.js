// Variable scopes of the AQL parser.
'use strict';

/** Variable scopes, after arangod/Aql/Scopes.cpp. */
class Scopes {
  constructor() {
    this.stack = [{ type: 'main', vars: new Map() }];
  }
  type() {
    return this.stack[this.stack.length - 1].type;
  }
  start(type) {
    this.stack.push({ type, vars: new Map() });
  }
  endCurrent() {
    this.stack.pop();
  }
  /** Ends the FOR/COLLECT scopes up to the enclosing main or subquery scope. */
  endNested() {
    while (this.stack.length > 1 && !['main', 'subquery'].includes(this.type())) this.stack.pop();
  }
  lookup(name) {
    for (let i = this.stack.length - 1; i >= 0; i--) {
      const v = this.stack[i].vars.get(name);
      if (v) return v;
    }
    return null;
  }
  add(v) {
    this.stack[this.stack.length - 1].vars.set(v.name, v);
  }
  /** Every user variable visible now (for COLLECT ... INTO). */
  visibleUserVariables() {
    const seen = new Map();
    for (const s of this.stack) for (const v of s.vars.values()) if (v.user) seen.set(v.name, v);
    return [...seen.values()];
  }
}

module.exports = { Scopes };
