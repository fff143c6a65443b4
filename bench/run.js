#!/usr/bin/env node
'use strict';
// npm run bench [-- [--smoke] [--name=value ...] [scenario ...]]
// Scenarios: recording, executing, reconciliation, reads, memory, mixed, backlog (default: these,
// in order), and in-doubt (only when named: it runs for minutes; its --name=value flags are in
// bench/scenarios/in-doubt.js).
// Each scenario makes its own database, queue prefix and sandbox, and prints FIGURE lines:
// its figure next to a baseline measured in the same run. Needs dist/ (npm run build),
// Postgres and Redis on 127.0.0.1 and pgbench; see docs/benchmarks.md.
const env = require('./lib/env');

const SCENARIOS = ['recording', 'executing', 'reconciliation', 'reads', 'memory', 'mixed', 'backlog'];
const NAMED_ONLY = ['in-doubt'];

async function main() {
  const args = process.argv.slice(2);
  const smoke = args.includes('--smoke');
  // --name=value (or --name alone = "true"): options of the scenarios that take them.
  const flags = Object.fromEntries(args.filter((a) => /^--[\w-]+(=.*)?$/.test(a) && a !== '--smoke').map((a) => {
    const [k, ...v] = a.slice(2).split('=');
    return [k, v.length ? v.join('=') : 'true'];
  }));
  const unknown = args.filter((a) => a.startsWith('-') && a !== '--smoke' && !/^--[\w-]+(=.*)?$/.test(a));
  const names = args.filter((a) => !a.startsWith('-'));
  const bad = names.filter((n) => !SCENARIOS.includes(n) && !NAMED_ONLY.includes(n));
  if (unknown.length || bad.length) {
    console.error(`usage: node bench/run.js [--smoke] [--name=value ...] [${[...SCENARIOS, ...NAMED_ONLY].join('|')} ...]`);
    process.exit(2);
  }
  const chosen = names.length ? names : SCENARIOS;
  const results = [];
  const failures = [];
  const started = Date.now();
  console.log(`bench: ${chosen.join(', ')}${smoke ? ' (smoke sizes)' : ''}; node ${process.version}; pid ${process.pid}`);
  for (const name of chosen) {
    const t0 = Date.now();
    console.log(`\n=== ${name} ===`);
    try {
      await require(`./scenarios/${name}`).run({ smoke, flags }, results);
      console.log(`[${name}] done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    } catch (err) {
      failures.push(name);
      console.error(`[${name}] FAILED: ${err.stack ?? err}`);
      await env.stopAll();
    }
  }
  await env.stopAll();
  await env.dropAllCreated();
  const missed = results.filter((r) => r.met === false).map((r) => `${r.scenario}.${r.name}`);
  console.log(`\nbench finished in ${((Date.now() - started) / 1000).toFixed(1)} s: ${results.length} figures, ${missed.length} targets missed${missed.length ? ` (${missed.join(', ')})` : ''}${failures.length ? `; FAILED scenarios: ${failures.join(', ')}` : ''}`);
  // Missed targets are findings, not errors; a scenario that could not run is an error.
  process.exit(failures.length ? 1 : 0);
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error(`\n${sig}: stopping processes and dropping this run's databases…`);
    env.stopAll().then(() => env.dropAllCreated()).finally(() => process.exit(130));
  });
}

main().catch(async (err) => {
  console.error(err);
  await env.stopAll();
  await env.dropAllCreated();
  process.exit(1);
});
