import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import Decimal from 'decimal.js';
import { ROOT, Stack, startStack, TOKENS } from './support/processes';

interface Run { code: number | null; stdout: string; stderr: string; json: any }

/** The built CLI as a process, as a script or cron job runs it. */
function cli(url: string, token: string, ...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/apps/cli/src/main.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', CREDIT_LEDGER_URL: url, CREDIT_LEDGER_TOKEN: token },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('close', (code) => {
      let json: any;
      try { json = JSON.parse(stdout); } catch { json = undefined; }
      resolve({ code, stdout, stderr, json });
    });
  });
}

describe('the CLI refuses a bad command line before sending anything', () => {
  // Any request reaching this server is one the CLI should not have sent.
  let server: Server;
  let url: string;
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => { seen.push(`${req.method} ${req.url}`); res.writeHead(500).end(); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => { seen.length = 0; });

  const transfer = ['transfer', '--subaccount', 'abc', '--direction', 'add', '--amount', '1'];
  it.each([
    ['an unknown flag', [...transfer, '--bogus-flag']],
    ['a timeout that is not a number', [...transfer, '--timeout', 'abc']],
    ['an amount with 4 decimals', ['transfer', '--subaccount', 'abc', '--direction', 'add', '--amount', '1.0001']],
    ['an amount with an exponent', ['transfer', '--subaccount', 'abc', '--direction', 'add', '--amount', '1e3']],
    ['a negative amount', ['transfer', '--subaccount', 'abc', '--direction', 'add', '--amount=-5']],
    ['a zero amount', ['transfer', '--subaccount', 'abc', '--direction', 'add', '--amount', '0']],
    ['a direction that does not exist', ['transfer', '--subaccount', 'abc', '--direction', 'sideways', '--amount', '1']],
    ['a missing sub-account', ['transfer', '--direction', 'add', '--amount', '1']],
    ['a bad sub-account token', ['transfer', '--subaccount', 'a b', '--direction', 'add', '--amount', '1']],
    ['an unknown command', ['bogus']],
    ['no command', []],
    ['an extra argument', ['reconcile', 'now']],
    ['a bad --from', ['export', 'journal-lines', '--out', '/tmp/x.csv', '--from', 'yesterday']],
    ['an export format the export has not', ['export', 'journal', '--out', '/tmp/x.csv', '--format', 'xlsx']],
    ['a statement without an account', ['export', 'statement', '--out', '/tmp/x.csv']],
    ['a report with a run id that is not one', ['export', 'report', '--run', '42', '--out', '/tmp/x.csv']],
    ['a chunk out of range', ['batch', '--file', '/tmp/none.json', '--chunk', '0']],
    ['digest without --out', ['digest']],
    ['provider-check with a flag it has not', ['provider-check', '--fast']],
    ['migrate without DATABASE_URL', ['migrate']],
    ['an --out file in a folder that does not exist', ['export', 'journal', '--out', '/nonexistent/dir/journal.csv']],
    ['a digest --out that is a folder', ['digest', '--out', tmpdir()]],
  ])('%s: exit 64, no request', async (_what, args) => {
    const r = await cli(url, TOKENS.operator, ...args);
    expect(r.code).toBe(64);
    expect(seen).toEqual([]);
  });

  it('under --json a usage error is a JSON error document on stdout', async () => {
    const r = await cli(url, TOKENS.operator, ...transfer, '--timeout', 'abc', '--json');
    expect(r.code).toBe(64);
    expect(r.json).toEqual({ error: { code: 'usage', message: expect.stringContaining('--timeout') } });
    expect(seen).toEqual([]);
  });

  it('a batch file with an invalid item is refused whole (exit 65), naming the item', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cl-cli-'));
    writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ subaccount: 'a', direction: 'add', amount: '1' }, { subaccount: 'b', direction: 'add', amount: '0.0001' }]));
    const r = await cli(url, TOKENS.operator, 'batch', '--file', join(dir, 'bad.json'), '--json');
    expect(r.code).toBe(65);
    expect(r.json.error).toMatchObject({ code: 'bad_input', items: [{ index: 1, message: expect.stringContaining('3 decimals') }] });
    writeFileSync(join(dir, 'not.json'), '[{"subaccount":');
    expect((await cli(url, TOKENS.operator, 'batch', '--file', join(dir, 'not.json'))).code).toBe(65);
    expect((await cli(url, TOKENS.operator, 'batch', '--file', join(dir, 'missing.json'))).code).toBe(65);
    writeFileSync(join(dir, 'digest.json'), 'not json');
    expect((await cli(url, TOKENS.operator, 'verify', '--digest', join(dir, 'digest.json'))).code).toBe(65);
    expect(seen).toEqual([]);
  });

  it('--version prints the package version, exit 0; --help documents the exit codes', async () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const v = await cli(url, TOKENS.viewer, '--version');
    expect([v.code, v.stdout.trim()]).toEqual([0, pkg.version]);
    const h = await cli(url, TOKENS.viewer, '--help');
    expect(h.code).toBe(0);
    for (const line of ['64  usage error', '65  bad input file', '3   the API refused', '2   discrepancy found']) expect(h.stdout).toContain(line);
    expect((await cli(url, TOKENS.viewer, 'help', 'batch')).stdout).toContain('--wait');
    expect((await cli(url, TOKENS.viewer, 'help')).code).toBe(0);
    expect((await cli(url, TOKENS.viewer, 'export', 'journal-lines', '--help')).code).toBe(0);
    expect(seen).toEqual([]);
  });

  it('an API that answers 5xx is a failure (exit 1), with a JSON error under --json', async () => {
    const r = await cli(url, TOKENS.viewer, 'verify', '--json');
    expect(r.code).toBe(1);
    expect(r.json).toEqual({ error: { code: 'http_500', message: expect.any(String), status: 500 } });
    expect(seen).toEqual(['GET /v1/audit/verify']);
  });

  it('an unreachable API is a failure (exit 1) that names the idempotency key to replay with', async () => {
    const r = await cli('http://127.0.0.1:9', TOKENS.operator, ...transfer, '--json');
    expect(r.code).toBe(1);
    expect(r.json.error.code).toBe('unreachable');
    const key = /idempotency-key (\S+)/.exec(r.json.error.message)?.[1];
    expect(key).toMatch(/^cli-[0-9a-f-]{36}$/);
  });
});

describe('the CLI against a running system', () => {
  let stack: Stack;
  let dir: string;
  let a: string;
  let b: string;
  const run = (token: string, ...args: string[]) => cli(stack.baseUrl, token, ...args);
  const transfersCount = async () => Object.values(await stack.statusCounts()).reduce((x, y) => x + y, 0);

  beforeAll(async () => {
    stack = await startStack({ subaccounts: 3, env: { RECONCILE_IN_DOUBT_GRACE_MS: '0', RECONCILE_CRON: '0 0 1 1 *' } });
    dir = mkdtempSync(join(tmpdir(), 'cl-cli-'));
    expect((await run(TOKENS.admin, 'import', '--json')).code).toBe(0);
    [a, b] = stack.tokens();
  });
  afterAll(async () => { await stack.close(); });

  it('transfer --subaccount=X: posted (exit 0) with a generated, printed key; rerunning with the key replays it', async () => {
    const first = await run(TOKENS.operator, 'transfer', `--subaccount=${a}`, '--direction=add', '--amount', '20', '--reference', '=HYPERLINK("http://evil","x")', '--json');
    expect(first.code).toBe(0);
    expect(first.json).toMatchObject({ status: 'posted', amount: '20.000', idempotencyKey: expect.stringMatching(/^cli-/) });
    expect(first.stderr).toContain(`idempotency key: ${first.json.idempotencyKey}`);
    const before = await transfersCount();
    const again = await run(TOKENS.operator, 'transfer', '--subaccount', a, '--direction', 'add', '--amount', '20.000', '--reference', '=HYPERLINK("http://evil","x")', '--idempotency-key', first.json.idempotencyKey, '--json');
    expect([again.code, again.json.id]).toEqual([0, first.json.id]);
    const changed = await run(TOKENS.operator, 'transfer', '--subaccount', a, '--direction', 'add', '--amount', '21', '--idempotency-key', first.json.idempotencyKey, '--json');
    expect([changed.code, changed.json.error.code]).toEqual([3, 'idempotency_key_reused']);
    expect(await transfersCount()).toBe(before);
    const human = await run(TOKENS.operator, 'transfer', '--subaccount', b, '--direction', 'add', '--amount', '5.5');
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^transfer [0-9a-f-]{36}: posted; idempotency key cli-/);
  });

  it('an API refusal (unknown sub-account, viewer token) exits 3 with the API error code', async () => {
    const ghost = await run(TOKENS.operator, 'transfer', '--subaccount', 'ghost', '--direction', 'add', '--amount', '1', '--json');
    expect(ghost.code).toBe(3);
    expect(ghost.json.error).toMatchObject({ code: 'subaccount_not_found', status: 404 });
    const viewer = await run(TOKENS.viewer, 'transfer', '--subaccount', a, '--direction', 'add', '--amount', '1');
    expect(viewer.code).toBe(3);
    expect(viewer.stderr).toContain('403');
  });

  it('a transfer the provider refuses is not done: exit 1, failed', async () => {
    stack.sandbox.faults.add({ route: 'add', fault: 'error_code', code: 11, count: 1 });
    const r = await run(TOKENS.operator, 'transfer', '--subaccount', b, '--direction', 'add', '--amount', '1', '--json');
    stack.sandbox.faults.clear();
    expect([r.code, r.json.status]).toEqual([1, 'failed']);
  });

  it('batch: keys derived from the file content, so a rerun replays every item; --wait follows to final states and lists what did not post', async () => {
    const items = [
      { subaccount: a, direction: 'add', amount: '0.5' },
      { subaccount: 'ghost', direction: 'add', amount: '1' },
      { subaccount: b, direction: 'add', amount: '0.25', idempotencyKey: 'own-key-1' },
      { subaccount: b, direction: 'add', amount: 2 },
    ];
    const file = join(dir, 'batch.json');
    writeFileSync(file, JSON.stringify(items));
    const hash = createHash('sha256').update(readFileSync(file)).digest('hex');
    const before = await transfersCount();
    const first = await run(TOKENS.operator, 'batch', '--file', file, '--chunk', '2', '--wait', '--json');
    expect(first.code).toBe(3); // one item refused, the others posted
    expect(first.json).toMatchObject({ total: 4, recorded: 3, replayed: 0, refused: [{ index: 1, status: 404, error: { code: 'subaccount_not_found' } }], final: { posted: 3 }, notPosted: [] });
    expect(first.json.file.sha256).toBe(hash);
    expect(await transfersCount()).toBe(before + 3);
    const keys = (await stack.db.query<{ idempotency_key: string }>('SELECT idempotency_key FROM transfers WHERE provider_account_id = $1 AND idempotency_key NOT LIKE $2 ORDER BY seq', [stack.providerAccount, 'cli-%'])).map((r) => r.idempotency_key);
    expect(keys).toEqual([`batch-${hash.slice(0, 40)}-0`, 'own-key-1', `batch-${hash.slice(0, 40)}-3`]);

    const second = await run(TOKENS.operator, 'batch', '--file', file, '--json');
    expect(second.json).toMatchObject({ recorded: 0, replayed: 3 });
    expect(await transfersCount()).toBe(before + 3);

    const human = await run(TOKENS.operator, 'batch', '--file', file);
    expect(human.stdout).toContain('4 transfers: 0 recorded, 3 already recorded (replayed), 1 refused');
    expect(human.stdout).toContain('refused #1: 404 subaccount_not_found');
  });

  it('batch --wait with an item the provider refuses: exit 1, the failed item listed with its reason', async () => {
    stack.sandbox.faults.add({ route: 'remove', fault: 'error_code', code: 11, count: 1 });
    const file = join(dir, 'batch-fail.json');
    writeFileSync(file, JSON.stringify([{ subaccount: a, direction: 'add', amount: '0.125' }, { subaccount: a, direction: 'remove', amount: '0.125' }]));
    const r = await run(TOKENS.operator, 'batch', '--file', file, '--wait', '--json');
    stack.sandbox.faults.clear();
    expect(r.code).toBe(1);
    expect(r.json.final).toEqual({ posted: 1, failed: 1 });
    expect(r.json.notPosted).toEqual([{ index: 1, id: expect.any(String), status: 'failed', failureReason: expect.any(String) }]);
  });

  it('reconcile names the drifted accounts with expected, observed and drift (exit 2)', async () => {
    stack.sandbox.state.usage({ token: a }, '2.5');
    const r = await run(TOKENS.operator, 'reconcile', '--json');
    expect(r.code).toBe(2);
    const expected = r.json.items.find((i: any) => i.account === `sub:${a}`).expected;
    expect(r.json.drifted).toEqual([{ account: `sub:${a}`, expected, observed: new Decimal(expected).minus('2.5').toFixed(3), drift: '-2.500' }]);
    const human = await run(TOKENS.operator, 'reconcile');
    expect(human.code).toBe(2);
    expect(human.stdout).toContain('drifted accounts:');
    expect(human.stdout).toMatch(new RegExp(`sub:${a}\\s+${expected.replace('.', '\\.')}\\s+\\S+\\s+-2\\.500`));
  });

  it('export journal-lines: one row per posting, UTC dates, every transaction balances, formulas neutralised in every CSV', async () => {
    const r = await run(TOKENS.viewer, 'export', 'journal-lines', '--out', join(dir, 'lines.csv'), '--json');
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, 'lines.csv'), 'utf8');
    expect(text.split('\r\n')[0]).toBe('date (UTC),posted_at,transaction,kind,account,debit,credit,memo,reference,actor');
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows.length).toBeGreaterThan(8);
    const byTx = new Map<string, { debit: Decimal; credit: Decimal }>();
    for (const row of rows) {
      expect(row['posted_at']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(row['date (UTC)']).toBe(row['posted_at'].slice(0, 10));
      expect(row.debit === '' ? row.credit : row.debit).toMatch(/^\d+\.\d{3}$/); // exactly one side
      expect(row.debit !== '' && row.credit !== '').toBe(false);
      const t = byTx.get(row.transaction) ?? { debit: new Decimal(0), credit: new Decimal(0) };
      byTx.set(row.transaction, { debit: t.debit.plus(row.debit || 0), credit: t.credit.plus(row.credit || 0) });
    }
    for (const [, t] of byTx) expect(t.debit.toFixed(3)).toBe(t.credit.toFixed(3));
    const evil = rows.filter((row) => row.reference.includes('HYPERLINK'));
    expect(evil.length).toBeGreaterThanOrEqual(2); // both sides of the transfer
    for (const row of evil) expect(row.reference).toBe(`'=HYPERLINK("http://evil","x")`);

    // The same reference through the other CSVs that carry it.
    const journal = await run(TOKENS.viewer, 'export', 'journal', '--out', join(dir, 'journal.csv'));
    expect(journal.code).toBe(0);
    const journalText = readFileSync(join(dir, 'journal.csv'), 'utf8');
    const entries = parse(journalText, { columns: true }) as Record<string, string>[];
    expect(entries.filter((e) => e.reason === `'=HYPERLINK("http://evil","x")`).length).toBeGreaterThanOrEqual(1);
    for (const e of entries) {
      expect(e.recorded_at).toMatch(/Z$/);
      for (const cell of Object.values(e)) expect(cell).not.toMatch(/^[=+@\t\r]|^-(?!\d+(\.\d+)?$)/);
    }
    const jsonl = await run(TOKENS.viewer, 'export', 'journal-lines', '--format', 'jsonl', '--out', join(dir, 'lines.jsonl'));
    expect(jsonl.code).toBe(0);
    const first = JSON.parse(readFileSync(join(dir, 'lines.jsonl'), 'utf8').split('\n')[0]);
    expect(first).toMatchObject({ postedAt: expect.stringMatching(/Z$/), account: expect.any(String) });

    const page = await stack.call('GET', '/v1/journal/lines?limit=3', undefined, TOKENS.viewer);
    expect(page.status).toBe(200);
    expect(page.json.data).toHaveLength(3);
    const next = await stack.call('GET', `/v1/journal/lines?limit=500&cursor=${page.json.nextCursor}`, undefined, TOKENS.viewer);
    const paged = [...page.json.data, ...next.json.data];
    expect(next.json.nextCursor).toBeNull();
    expect(paged.map((l: any) => [l.transactionId, l.account, l.debit, l.credit])).toEqual(rows.map((row) => [row.transaction, row.account, row.debit || null, row.credit || null]));
    expect((await stack.call('GET', '/v1/journal/lines?format=xlsx', undefined, TOKENS.viewer)).status).toBe(400);
  });

  it('export statement: the reference neutralised, negative amounts kept as numbers, times in UTC', async () => {
    expect((await run(TOKENS.operator, 'transfer', '--subaccount', a, '--direction', 'remove', '--amount', '0.25')).code).toBe(0);
    const r = await run(TOKENS.viewer, 'export', 'statement', '--account', `sub:${a}`, '--out', join(dir, 'st.csv'), '--from', '2020-01-01T00:00:00Z');
    expect(r.code).toBe(0);
    const text = readFileSync(join(dir, 'st.csv'), 'utf8');
    expect(text.split('\r\n')[0]).toBe('posted_at,transaction_id,kind,amount,balance_after,actor,reason');
    const rows = parse(text, { columns: true }) as Record<string, string>[];
    expect(rows[0]).toMatchObject({ posted_at: '2020-01-01T00:00:00.000Z', kind: 'opening' });
    expect(rows.some((row) => row.amount === '-0.250')).toBe(true);
    expect(rows.filter((row) => row.reason.includes('HYPERLINK')).map((row) => row.reason)).toEqual([`'=HYPERLINK("http://evil","x")`]);
  });

  it('verify: the chain is intact (exit 0)', async () => {
    const r = await run(TOKENS.viewer, 'verify', '--json');
    expect([r.code, r.json.ok]).toEqual([0, true]);
  });
});
