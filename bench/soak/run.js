#!/usr/bin/env node
'use strict';
// node bench/soak/run.js [--duration=10m] [--kill-worker-every=0] [--seed=soak] [--spending=0.04] [--evidence=on|off]
// Mixed traffic with random provider faults against the built api + 2 workers on
// 127.0.0.1 for the given duration, then the invariants and the resident memory over
// time. --spending=€/s: the sandbox's sub-accounts and main account spend that much a second.
// --evidence=on (default with --spending): the worker settles in-doubt transfers by evidence and
// books usage (IN_DOUBT_AUTO_SETTLE, USAGE_AUTO_BOOK); off: only reconciliation runs settle. Needs Postgres and Redis on 127.0.0.1 (as the e2e tests). Not part of CI.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const args = Object.fromEntries(process.argv.slice(2).map((a) => {
  const m = /^--([\w-]+)(?:=(.*))?$/.exec(a);
  if (!m) { console.error(`unknown argument ${a}\nusage: node bench/soak/run.js [--duration=10m|90s] [--kill-worker-every=2m] [--seed=soak] [--spending=0.04] [--evidence=on|off]`); process.exit(2); }
  return [m[1], m[2] ?? 'true'];
}));
const ms = (v, what) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(v));
  if (!m) { console.error(`--${what}: expected a duration like 90s or 10m, got ${v}`); process.exit(2); }
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] ?? 's']);
};
const env = {
  ...process.env,
  SOAK_DURATION_MS: String(ms(args.duration ?? '10m', 'duration')),
  SOAK_KILL_WORKER_EVERY_MS: String(args['kill-worker-every'] ? ms(args['kill-worker-every'], 'kill-worker-every') : 0),
  SOAK_SEED: args.seed ?? 'soak',
  SOAK_EVIDENCE: (args.evidence ?? (args.spending === undefined ? 'off' : 'on')) === 'on' ? 'on' : 'off',
  SOAK_SPENDING_PER_SECOND: args.spending === undefined ? '0' : /^\d+(\.\d{1,6})?$/.test(args.spending) ? args.spending : (console.error(`--spending: € per second, e.g. 0.04, got ${args.spending}`), process.exit(2)),
};
const step = (cmd, argv) => {
  const r = spawnSync(cmd, argv, { cwd: root, env, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
step(process.execPath, [path.join(root, 'scripts', 'prepare.js')]);
step(process.execPath, [require.resolve('jest/bin/jest', { paths: [root] }), '--config', path.join(__dirname, 'jest.config.js'), '--runInBand', '--verbose=false']);
