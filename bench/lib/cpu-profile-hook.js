'use strict';
// Loaded with NODE_OPTIONS=--require (which refuses --cpu-prof itself): the same V8 CPU
// profile as `node --cpu-prof`, written to $BENCH_CPU_PROF_DIR/<pid>.cpuprofile on exit.
const inspector = require('node:inspector');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.start');
process.on('exit', () => {
  // A session on the main thread answers synchronously, so this completes before exit.
  session.post('Profiler.stop', (err, res) => {
    if (!err) writeFileSync(join(process.env.BENCH_CPU_PROF_DIR ?? '.', `${process.pid}.cpuprofile`), JSON.stringify(res.profile));
  });
});
