#!/usr/bin/env node
// The npm registry mirror these machines use does not serve other platforms' optional
// binaries (e.g. @unrs/resolver-binding-darwin-arm64), so `npm install` writes a lockfile that
// names optional dependencies it has no entry for, and `npm ci` then refuses it. This drops
// those dangling optional names. Run after every `npm install`: `npm run lock:prune`.
const fs = require('node:fs');
const path = require('node:path');

const file = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(file, 'utf8'));
const present = new Set(Object.keys(lock.packages).map((k) => k.replace(/^.*node_modules\//, '')));
let pruned = 0;
for (const pkg of Object.values(lock.packages)) {
  if (!pkg.optionalDependencies) continue;
  for (const name of Object.keys(pkg.optionalDependencies)) {
    if (!present.has(name)) {
      delete pkg.optionalDependencies[name];
      pruned++;
    }
  }
  if (Object.keys(pkg.optionalDependencies).length === 0) delete pkg.optionalDependencies;
}
fs.writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`package-lock.json: pruned ${pruned} optional dependencies with no entry`);
