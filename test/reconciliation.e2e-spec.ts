import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { ROOT, Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * Runs the built CLI as a process, as a cron job would. Asynchronously: the sandbox answers
 * from this very process.
 */
function cli(stack: Stack, token: string, ...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; json: any }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist/apps/cli/src/main.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', CREDIT_LEDGER_URL: stack.baseUrl, CREDIT_LEDGER_TOKEN: token },
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

describe('reconciliation and the CLI end to end', () => {
  let stack: Stack;
  let a: string;
  let b: string;
  beforeAll(async () => {
    stack = await startStack({ subaccounts: 3, env: { RECONCILE_IN_DOUBT_GRACE_MS: '0', RECONCILE_CRON: '0 0 1 1 *' } });
    expect((await cli(stack, TOKENS.admin, 'import', '--json')).json).toMatchObject({ imported: 3 });
    [a, b] = stack.tokens();
    for (const token of [a, b]) {
      const t = (await cli(stack, TOKENS.operator, 'transfer', '--subaccount', token, '--direction', 'add', '--amount', '20', '--json'));
      expect([t.code, t.json.status]).toEqual([0, 'posted']);
    }
  });
  afterAll(async () => { await stack.close(); });

  it('a matched ledger: reconcile exits 0', async () => {
    const r = (await cli(stack, TOKENS.operator, 'reconcile', '--json'));
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ status: 'completed', summary: { accounts: 4, matched: 4, drifted: 0 } });
  });

  it('SMS usage shows as drift (exit 2), the CSV report names it, and resolving it as usage matches the next run', async () => {
    stack.sandbox.state.usage({ token: a }, '2.5');
    const r = (await cli(stack, TOKENS.operator, 'reconcile', '--json'));
    expect(r.code).toBe(2);
    const item = r.json.items.find((i: any) => i.account === `sub:${a}`);
    expect(item).toMatchObject({ status: 'drift', expected: '20.000', observed: '17.500', drift: '-2.500' });
    const csv = await stack.call('GET', `/v1/reconciliations/${r.json.id}/report?format=csv`, undefined, TOKENS.viewer);
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = csv.text.trim().split(/\r?\n/);
    expect(lines[0]).toBe('account,source,observed_at,expected,observed,drift,status,explanation');
    expect(lines.find((l) => l.startsWith(`sub:${a},`))).toContain(',20.000,17.500,-2.500,drift,');
    const drifts = await stack.call('GET', '/v1/drifts?status=open', undefined, TOKENS.viewer);
    const finding = drifts.json.data.find((f: any) => f.account === `sub:${a}`);
    expect(finding).toMatchObject({ drift: '-2.500', status: 'open' });
    const viewerTry = await stack.call('POST', `/v1/drifts/${finding.id}/resolve`, { as: 'usage', reason: 'SMS sent in November' }, TOKENS.viewer);
    expect(viewerTry.status).toBe(403);
    const resolved = await stack.call('POST', `/v1/drifts/${finding.id}/resolve`, { as: 'usage', reason: 'SMS sent in November' }, TOKENS.operator);
    expect(resolved.status).toBe(200);
    expect(resolved.json.resolution).toMatchObject({ as: 'usage', reason: 'SMS sent in November' });
    expect(resolved.json.resolution.ledgerTransactionId).toMatch(/^[0-9a-f-]{36}$/);
    const again = (await cli(stack, TOKENS.operator, 'reconcile', '--json'));
    expect(again.code).toBe(0);
    expect(again.json.items.find((i: any) => i.account === `sub:${a}`).status).toBe('matched');
  });

  it('an in-doubt transfer ("applied, answer lost") is resolved by the next run to what the provider did', async () => {
    stack.sandbox.faults.add({ route: 'add', fault: 'apply_then_drop', count: 1 });
    const t = (await cli(stack, TOKENS.operator, 'transfer', '--subaccount', b, '--direction', 'add', '--amount', '7', '--json'));
    expect([t.code, t.json.status]).toEqual([1, 'in_doubt']); // not done: exit 1
    const r = (await cli(stack, TOKENS.operator, 'reconcile', '--json'));
    expect(r.json.items.find((i: any) => i.account === `sub:${b}`).status).toBe('resolved_in_doubt');
    const after = await stack.call('GET', `/v1/transfers/${t.json.id}`, undefined, TOKENS.viewer);
    expect(after.json).toMatchObject({ status: 'posted', resolution: { outcome: 'applied', by: 'system:reconciliation' } });
    await waitFor(async () => (await cli(stack, TOKENS.operator, 'reconcile', '--json')).code === 0, 10_000, 'a clean run');
  });

  it('a run that cannot reach the provider fails and says so (exit 1)', async () => {
    stack.sandbox.faults.add({ route: 'list', fault: 'http_503', count: 5 });
    const r = (await cli(stack, TOKENS.operator, 'reconcile', '--json'));
    stack.sandbox.faults.clear();
    expect(r.code).toBe(1);
  });

  it('exports the journal and a statement to files, and verifies the chain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cl-export-'));
    const journal = (await cli(stack, TOKENS.viewer, 'export', 'journal', '--out', join(dir, 'journal.csv'), '--json'));
    expect(journal.code).toBe(0);
    const lines = readFileSync(join(dir, 'journal.csv'), 'utf8').trim().split('\r\n');
    expect(lines[0]).toBe('sequence,recorded_at,provider_account,actor,action,entity_type,entity_id,reason,correlation_id,data,prev_hash,hash');
    expect(lines.some((l) => l.includes('transfer.resolved_applied'))).toBe(true);
    const statement = (await cli(stack, TOKENS.viewer, 'export', 'statement', '--account', `sub:${a}`, '--out', join(dir, 'st.csv'), '--json'));
    expect(statement.code).toBe(0);
    const st = readFileSync(join(dir, 'st.csv'), 'utf8');
    expect(st).toContain(',usage,-2.500,17.500,');
    expect((await cli(stack, TOKENS.viewer, 'verify')).code).toBe(0);
    writeFileSync(join(dir, 'batch.json'), JSON.stringify([
      { subaccount: a, direction: 'add', amount: '0.5', idempotencyKey: 'cli-batch-1' },
      { subaccount: 'ghost', direction: 'add', amount: '1' },
      { subaccount: b, direction: 'add', amount: '0.25' },
    ]));
    const batch = await cli(stack, TOKENS.operator, 'batch', '--file', join(dir, 'batch.json'), '--chunk', '2', '--json');
    expect(batch.code).toBe(3); // some items refused by the API
    expect(batch.json).toMatchObject({ total: 3, byStatus: { 202: 2, 404: 1 }, refused: [{ index: 1, error: { code: 'subaccount_not_found' } }] });
    expect((await cli(stack, TOKENS.viewer, 'bogus')).code).toBe(64);
    expect((await cli(stack, TOKENS.viewer, '--help')).stdout).toContain('credit-ledger <command>');
  });
});
