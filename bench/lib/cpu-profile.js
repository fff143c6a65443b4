'use strict';
// Preload for a CPU profile of a bench child process (Node refuses --cpu-prof in NODE_OPTIONS):
//   BENCH_APP_NODE_OPTIONS="--require $PWD/bench/lib/cpu-profile.js" BENCH_APP_CPU_PROFILE_DIR=/tmp/prof npm run bench -- backlog
// Starts V8's sampling profiler at load and writes <dir>/<pid>.cpuprofile when the process
// exits or gets SIGTERM (open it in Chrome DevTools or speedscope).
const inspector = require('node:inspector');
const { mkdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.CPU_PROFILE_DIR || join(require('node:os').tmpdir(), 'bench-cpu-profiles');
mkdirSync(dir, { recursive: true });
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 500 });
session.post('Profiler.start');
let written = false;
function write() {
  if (written) return;
  written = true;
  session.post('Profiler.stop', (err, res) => { if (!err) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(res.profile)); });
}
process.on('exit', write);
// Only this listener: the process would otherwise not end on SIGTERM.
process.on('SIGTERM', () => { write(); if (process.listenerCount('SIGTERM') === 1) process.exit(0); });
