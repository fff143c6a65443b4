#!/usr/bin/env node
// Makes a fresh clone runnable: installs dependencies when missing, generates the Prisma
// client when the schema changed, and compiles apps and libs to dist/ (incremental).
// Used by `npm start`, `npm test` and `npm run build`; needs nothing but Node and npm.
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
