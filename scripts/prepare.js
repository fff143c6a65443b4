#!/usr/bin/env node
// Makes a fresh clone runnable: installs dependencies when missing, generates the Prisma
// client when the schema changed, and compiles apps and libs to dist/ (incremental).
// Used by `npm start`, `npm test` and `npm run build`; needs nothing but Node and npm.
// With --test (`npm test`), also what the tests need from the machine: Debian's chromium
// for the dashboard test, installed with apt-get when running as root and it is missing.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const run = (cmd, args, env = {}) =>
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
const mtime = (p) => (fs.existsSync(p) ? fs.statSync(p).mtimeMs : 0);

if (!fs.existsSync(path.join(root, 'node_modules', '.package-lock.json'))) {
  console.log('[prepare] installing dependencies (npm ci)…');
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

const schema = path.join(root, 'prisma', 'schema.prisma');
const generated = path.join(root, 'libs', 'persistence', 'src', 'generated', 'prisma', 'client.ts');
if (mtime(generated) < mtime(schema)) {
  console.log('[prepare] generating the Prisma client…');
  // `generate` does not need Prisma's schema engine; naming any executable skips its download.
  run(process.execPath, [require.resolve('prisma/build/index.js', { paths: [root] }), 'generate'], {
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || '/bin/true',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  });
}

console.log('[prepare] compiling (tsc -p tsconfig.build.json)…');
run(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [root] }), '-p', 'tsconfig.build.json']);

if (process.argv.includes('--test')) ensureChromium();

// test/dashboard.e2e-spec.ts drives a headless Chromium through playwright-core. Debian's
// package is the one that works offline (`npx playwright install` downloads a browser build,
// which these machines cannot fetch).
function ensureChromium() {
  const browser = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (fs.existsSync(browser)) return;
  const apt = fs.existsSync('/usr/bin/apt-get');
  if (process.env.CHROMIUM_PATH || process.getuid?.() !== 0 || !apt) {
    console.warn(`[prepare] warning: ${browser} is missing, so the dashboard test will fail: install Chromium`
      + (apt ? ' (apt-get install -y chromium, as root)' : '') + ' or set CHROMIUM_PATH');
    return;
  }
  console.log("[prepare] installing Debian's chromium for the dashboard test (apt-get install -y chromium)…");
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  run('apt-get', ['update', '-qq'], env);
  run('apt-get', ['install', '-y', '-qq', 'chromium'], env);
}
