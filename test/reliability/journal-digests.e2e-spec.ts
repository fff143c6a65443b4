import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { Client } from 'pg';
import { digestSigningText, ensureDatabase, migrate, signDigest } from '@app/persistence';
import { Stack, startStack, TOKENS, waitFor } from '../support/processes';

/**
 * Tamper evidence that survives a database administrator. The journal is one hash chain for
 * the whole database, and this test rewrites it: it runs on a database of its own (created
 * and migrated here, dropped at the end), never the test run's shared one.
 *
 * A DBA who edits a journal row and re-chains every hash after it fools the chain check
 * (GET /v1/audit/verify says ok) — but not a signed digest taken before the edit.
 */
describe('signed journal digests detect a rewritten and re-chained journal', () => {
  let stack: Stack;
  let dbUrl: string;
  let superuser: Client;
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = String(privateKey.export({ type: 'pkcs8', format: 'pem' }));

  beforeAll(async () => {
    const url = new URL(process.env.DATABASE_URL!);
    url.pathname = `${url.pathname}_digests`;
    dbUrl = url.toString();
    await ensureDatabase(dbUrl);
    await migrate(dbUrl);
    superuser = new Client({ connectionString: dbUrl });
    await superuser.connect();
    // Digests on a schedule too: every 2 seconds (cron with seconds) on the worker.
    stack = await startStack({ databaseUrl: dbUrl, subaccounts: 2, worker: false, env: { JOURNAL_SIGNING_KEY: pem, JOURNAL_DIGEST_CRON: '*/2 * * * * *' } });
    expect((await stack.call('POST', '/v1/subaccounts/import')).status).toBe(200);
    for (let i = 0; i < 5; i++) {
      const r = await stack.call('POST', '/v1/transfers', { subaccount: stack.tokens()[i % 2], direction: 'add', amount: `${i + 1}.000`, reference: `digest ${i}` }, TOKENS.operator);
      expect(r.status).toBe(202);
    }
  });
  afterAll(async () => {
    await stack?.close();
    await superuser?.end();
    const admin = new URL(dbUrl);
    const name = admin.pathname.slice(1);
    admin.pathname = '/postgres';
    const c = new Client({ connectionString: admin.toString() });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => c.end());
  });

  it('takes, lists and verifies a digest; refuses a forged one; catches a DBA rewrite the chain check misses', async () => {
    // On demand (admin only).
    expect((await stack.call('POST', '/v1/audit/digests', undefined, TOKENS.operator)).status).toBe(403);
    const taken = await stack.call('POST', '/v1/audit/digests');
    expect(taken.status).toBe(201);
    const digest = taken.json;
    const [head] = (await superuser.query('SELECT sequence::text, hash FROM journal_head')).rows;
    expect(digest).toMatchObject({ version: 1, sequence: head.sequence, hash: head.hash, trigger: 'request', actor: expect.stringMatching(/^token:admin/) });
    expect(Number(digest.sequence)).toBeGreaterThanOrEqual(5);
    // An auditor checks it with nothing but the public key.
    expect(verify(null, Buffer.from(digestSigningText(digest)), digest.publicKey, Buffer.from(digest.signature, 'base64'))).toBe(true);
    expect(digest.keyId).toBe(createHash('sha256').update(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })).digest('hex').slice(0, 16));
    // The same head: the same digest, not a second row.
    expect((await stack.call('POST', '/v1/audit/digests')).json.id).toBe(digest.id);
    // Listed and exportable, with the public key.
    const list = await stack.call('GET', '/v1/audit/digests', undefined, TOKENS.viewer);
    expect(list.status).toBe(200);
    expect(list.json.publicKey).toBe(digest.publicKey);
    expect(list.json.keyId).toBe(digest.keyId);
    expect(list.json.data.map((d: { id: string }) => d.id)).toContain(digest.id);
    // The key itself never appears anywhere the API or the worker answers or logs.
    const keyBody = pem.split('\n')[1];
    expect(JSON.stringify(list.json) + JSON.stringify(digest) + stack.api.text()).not.toContain(keyBody);

    // Untouched: ok.
    const good = await stack.call('POST', '/v1/audit/verify', { digest }, TOKENS.viewer);
    expect(good.status).toBe(200);
    expect(good.json).toMatchObject({ ok: true, brokenAt: null, anchor: { sequence: digest.sequence, matches: true }, digest: { signature: 'valid', signer: 'this instance', chainMatches: true }, problem: null });
    // Without a body: the chain check, as GET.
    const plain = await stack.call('POST', '/v1/audit/verify', undefined, TOKENS.viewer);
    expect(plain.json).toEqual((await stack.call('GET', '/v1/audit/verify', undefined, TOKENS.viewer)).json);
    expect(plain.json.ok).toBe(true);

    // Forged: a field changed under the same signature, or a digest signed by another key.
    for (const forged of [{ ...digest, hash: 'f'.repeat(64) }, { ...digest, sequence: String(Number(digest.sequence) - 1) }, { ...digest, at: new Date().toISOString() }]) {
      const r = await stack.call('POST', '/v1/audit/verify', { digest: forged }, TOKENS.viewer);
      expect(r.status).toBe(200);
      expect(r.json).toMatchObject({ ok: false, digest: { signature: 'invalid' } });
      expect(r.json.problem).toMatch(/forged or altered/);
    }
    const other = generateKeyPairSync('ed25519').privateKey;
    const foreign = signDigest(other, { sequence: digest.sequence, hash: digest.hash }, new Date());
    const byOther = await stack.call('POST', '/v1/audit/verify', { digest: foreign }, TOKENS.viewer);
    expect(byOther.json).toMatchObject({ ok: false, digest: { signature: 'invalid', signer: 'another key' } });
    // Malformed: 400, never a 500.
    for (const bad of [{ ...digest, sequence: '9223372036854775808' }, { ...digest, hash: 'xyz' }, { ...digest, signature: '\u0000' }, { digest: 1 }, 'x']) {
      const r = await stack.call('POST', '/v1/audit/verify', { digest: bad }, TOKENS.viewer);
      expect([r.status, r.json?.error?.code]).toEqual([400, 'validation_failed']);
    }

    // More history after the digest.
    for (let i = 0; i < 3; i++) {
      expect((await stack.call('POST', '/v1/transfers', { subaccount: stack.tokens()[0], direction: 'add', amount: '0.500' }, TOKENS.operator)).status).toBe(202);
    }
    expect((await stack.call('POST', '/v1/audit/verify', { digest }, TOKENS.viewer)).json.ok).toBe(true);

    // The DBA: triggers off, a row the digest covers rewritten, every hash after it recomputed.
    const target = Number(digest.sequence) - 2;
    await superuser.query('BEGIN');
    await superuser.query('SET LOCAL session_replication_role = replica');
    await superuser.query(`UPDATE journal_entries SET reason = 'rewritten by a DBA' WHERE sequence = $1`, [target]);
    let prev = (await superuser.query('SELECT hash FROM journal_entries WHERE sequence = $1', [target - 1])).rows[0].hash as string;
    const rows = (await superuser.query('SELECT sequence::text FROM journal_entries WHERE sequence >= $1 ORDER BY sequence', [target])).rows as Array<{ sequence: string }>;
    for (const { sequence } of rows) {
      await superuser.query('UPDATE journal_entries SET prev_hash = $2 WHERE sequence = $1', [sequence, prev]);
      const [{ canonical }] = (await superuser.query('SELECT journal_canonical(j) AS canonical FROM journal_entries j WHERE sequence = $1', [sequence])).rows;
      prev = createHash('sha256').update(`${prev}|${canonical}`, 'utf8').digest('hex');
      await superuser.query('UPDATE journal_entries SET hash = $2 WHERE sequence = $1', [sequence, prev]);
    }
    await superuser.query('UPDATE journal_head SET hash = $1 WHERE id = 1', [prev]);
    await superuser.query('COMMIT');

    // The chain by itself is fooled…
    expect((await stack.call('GET', '/v1/audit/verify', undefined, TOKENS.viewer)).json).toMatchObject({ ok: true, brokenAt: null });
    // …the digest kept by the auditor is not.
    const caught = await stack.call('POST', '/v1/audit/verify', { digest }, TOKENS.viewer);
    expect(caught.status).toBe(200);
    expect(caught.json).toMatchObject({ ok: false, brokenAt: digest.sequence, anchor: { sequence: digest.sequence, matches: false }, digest: { signature: 'valid', chainMatches: false } });
    expect(caught.json.problem).toMatch(/rewritten since the digest was taken/);

    // Published digests cannot be rewritten by the application's own connection either.
    await expect(stack.db.query(`UPDATE journal_digests SET hash = $1`, ['0'.repeat(64)])).rejects.toThrow(/not allowed/);
    await expect(stack.db.query('DELETE FROM journal_digests')).rejects.toThrow(/not allowed/);
  });

  it('the worker publishes digests on JOURNAL_DIGEST_CRON', async () => {
    await stack.startWorker();
    await waitFor(async () => (await superuser.query(`SELECT count(*)::int AS n FROM journal_digests WHERE trigger = 'schedule'`)).rows[0].n > 0, 15_000, 'a scheduled digest');
    const list = await stack.call('GET', '/v1/audit/digests?limit=1', undefined, TOKENS.viewer);
    expect(list.json.data[0]).toMatchObject({ trigger: 'schedule', actor: 'system:scheduler' });
  });
});
