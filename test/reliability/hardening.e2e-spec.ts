import { networkInterfaces } from 'node:os';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Stack, startStack, TOKENS } from '../support/processes';

/**
 * The defects of the hardening review (issue 18), each replayed against the running API:
 * every request answers 4xx and changes nothing; a sub-account created at the provider is
 * never lost by the ledger, whatever fails after the call; the bind address and the metrics
 * token are honoured.
 */
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');
const UUID = '0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b';
/** encodeURIComponent, except that a lone surrogate (which it refuses) goes as its CESU-8 bytes. */
const enc = (v: string) => [...v].map((c) => (/[\ud800-\udfff]/.test(c)
  ? Buffer.from([0xe0 | (c.charCodeAt(0) >> 12), 0x80 | ((c.charCodeAt(0) >> 6) & 0x3f), 0x80 | (c.charCodeAt(0) & 0x3f)]).toString('hex').replace(/../g, '%$&')
  : encodeURIComponent(c))).join('');

describe('hardening: the review repro requests answer 4xx and change nothing', () => {
  let stack: Stack;
  let token: string;
  const metricsToken = `metrics-${randomBytes(12).toString('hex')}`;

  /** Rows per table with a provider_account_id, plus the sandbox's applied log and sub-accounts. */
  const footprint = async () => {
    const tables = await stack.db.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' AND column_name = 'provider_account_id' ORDER BY 1`);
    const counts: Record<string, number> = {};
    for (const { table_name } of tables) {
      const [{ n }] = await stack.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table_name}" WHERE provider_account_id = $1`, [stack.providerAccount]);
      counts[table_name] = n;
    }
    counts['sandbox log'] = stack.sandbox.state.log.length;
    counts['sandbox sub-accounts'] = stack.sandbox.state.subaccountsOf(stack.apiKey).length;
    return counts;
  };

  beforeAll(async () => {
    stack = await startStack({ subaccounts: 2, worker: false, env: { METRICS_TOKEN: metricsToken } });
    expect((await stack.call('POST', '/v1/subaccounts/import')).status).toBe(200);
    token = stack.tokens()[0];
  });
  afterAll(async () => { await stack?.close(); });

  it('cursors out of range or malformed: 400 validation_failed on every paged route, never a 500', async () => {
    const before = await footprint();
    const bigintCursors = ['9223372036854775808', '99999999999999999999', '0', '-1', '1e3', '0x10', ' 5', '1.5', '\u0000', '\ud800'];
    const keysetCursors = [
      b64(`99999999999999999999|${UUID}`), b64(`9223372036854775807|${UUID}`), b64(`1|${'-'.repeat(36)}`), b64('1|0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6g'),
      b64(`1|${UUID}|x`), b64(`-5|${UUID}`), b64(`1\u0000|${UUID}`), '%%%', 'not base64!',
    ];
    const cases: Array<[string, string[]]> = [
      ['/v1/transfers', bigintCursors], ['/v1/journal', bigintCursors], ['/v1/webhook-deliveries', bigintCursors], ['/v1/topup-runs', bigintCursors],
      ['/v1/audit/digests', bigintCursors],
      ['/v1/reconciliations', keysetCursors], ['/v1/drifts', keysetCursors],
      ['/v1/topup-policies', ['not-a-uuid', `${'-'.repeat(36)}`, '\u0000', `${UUID}x`]],
      ['/v1/subaccounts', ['\u0000', 'a b', '\ud800', 'x'.repeat(129)]],
    ];
    const answers: string[] = [];
    for (const [path, cursors] of cases) {
      for (const c of cursors) {
        const r = await stack.call('GET', `${path}?cursor=${enc(c)}`, undefined, TOKENS.viewer);
        answers.push(`${path} ${JSON.stringify(c)} → ${r.status} ${r.json?.error?.code}`);
        expect({ path, c, status: r.status, code: r.json?.error?.code }).toEqual({ path, c, status: 400, code: 'validation_failed' });
      }
    }
    expect(answers.length).toBeGreaterThan(60);
    // A cursor the API gave is still accepted, and leads to the next page.
    for (let i = 0; i < 3; i++) {
      expect((await stack.call('POST', '/v1/transfers', { subaccount: token, direction: 'add', amount: '0.010' }, TOKENS.operator)).status).toBe(202);
    }
    const first = await stack.call('GET', '/v1/transfers?limit=2', undefined, TOKENS.viewer);
    expect(first.json.nextCursor).toMatch(/^\d+$/);
    const second = await stack.call('GET', `/v1/transfers?limit=2&cursor=${first.json.nextCursor}`, undefined, TOKENS.viewer);
    expect(second.status).toBe(200);
    expect(second.json.data).toHaveLength(1);
    expect(second.json.nextCursor).toBeNull();
    const after = await footprint();
    expect(after.transfers).toBe(before.transfers + 3);
  });

  it('NUL and lone surrogates in any free text: 400 at the contract (single), a per-item 400 in a batch', async () => {
    const before = await footprint();
    const bad = ['a\u0000b', '\ud800', 'x\udc00y', '\udbff'];
    for (const v of bad) {
      const bodies: unknown[] = [
        { subaccount: token, direction: 'add', amount: '1', reference: v },
        { subaccount: token, direction: 'add', amount: '1', metadata: { k: v } },
        { subaccount: token, direction: 'add', amount: '1', metadata: { [v]: 'x' } },
      ];
      for (const body of bodies) {
        const r = await stack.call('POST', '/v1/transfers', body, TOKENS.operator);
        expect({ v, status: r.status, code: r.json?.error?.code }).toEqual({ v, status: 400, code: 'validation_failed' });
      }
      const created = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email: `nul-${randomBytes(3).toString('hex')}@example.com`, title: v });
      expect([created.status, created.json?.error?.code]).toEqual([400, 'validation_failed']);
      const resolve = await stack.call('POST', `/v1/transfers/${UUID}/resolve`, { outcome: 'applied', reason: v }, TOKENS.operator);
      expect([resolve.status, resolve.json?.error?.code]).toEqual([400, 'validation_failed']);
      const drift = await stack.call('POST', `/v1/drifts/${UUID}/resolve`, { as: 'usage', reason: v }, TOKENS.operator);
      expect([drift.status, drift.json?.error?.code]).toEqual([400, 'validation_failed']);
      for (const q of [`subaccount=${enc(v)}`, `status=${enc(v)}`, `from=${enc(v)}`, `cursor=${enc(v)}`]) {
        const r = await stack.call('GET', `/v1/transfers?${q}`, undefined, TOKENS.viewer);
        expect([q, r.status]).toEqual([q, 400]);
      }
    }
    const mid = await footprint();
    expect(mid).toEqual(before);

    // A batch: the bad items get their own 400, the good one is recorded.
    const batch = await stack.call('POST', '/v1/transfers/batch', {
      transfers: [
        { subaccount: token, direction: 'add', amount: '0.500', reference: 'fine' },
        { subaccount: token, direction: 'add', amount: '0.500', reference: 'nul\u0000here' },
        { subaccount: token, direction: 'add', amount: '0.500', metadata: { note: '\ud800' } },
      ],
    }, TOKENS.operator);
    expect(batch.status).toBe(207);
    expect(batch.json.results.map((r: { status: number }) => r.status)).toEqual([202, 400, 400]);
    expect(batch.json.results[1].error.code).toBe('validation_failed');
    expect(batch.json.results[1].error.message).toMatch(/NUL/);
    expect((await footprint()).transfers).toBe(before.transfers + 1);
  });

  it('lenient input is refused: amounts with spaces or newlines, limit=0x10, limit=%205, duplicate JSON keys', async () => {
    const before = await footprint();
    for (const amount of [' 0.027', '0.017\n', '\t1', '1 ', '+1', '1_000', '０.５']) {
      const r = await stack.call('POST', '/v1/transfers', { subaccount: token, direction: 'add', amount }, TOKENS.operator);
      expect({ amount, status: r.status, code: r.json?.error?.code }).toEqual({ amount, status: 400, code: 'validation_failed' });
      const item = await stack.call('POST', '/v1/transfers/batch', { transfers: [{ subaccount: token, direction: 'add', amount }] }, TOKENS.operator);
      expect({ amount, status: item.json?.results?.[0]?.status }).toEqual({ amount, status: 400 });
    }
    for (const limit of ['0x10', '%205', '%20', '5%20', '0', '05', '1e1', '501', '-1', '5.0', '', '99999999999999999999']) {
      for (const path of ['/v1/transfers', '/v1/journal', '/v1/subaccounts', '/v1/reconciliations', '/v1/drifts', '/v1/topup-policies', '/v1/topup-runs', '/v1/webhook-deliveries', '/v1/audit/digests']) {
        const r = await stack.call('GET', `${path}?limit=${limit}`, undefined, TOKENS.viewer);
        expect({ path, limit, status: r.status }).toEqual({ path, limit, status: 400 });
      }
    }
    expect((await stack.call('GET', '/v1/transfers?limit=16', undefined, TOKENS.viewer)).status).toBe(200);
    for (const body of [
      `{"subaccount":"${token}","direction":"add","amount":"-1","amount":"0.016"}`,
      `{"subaccount":"${token}","subaccount":"${token}","direction":"add","amount":"1"}`,
      `{"subaccount":"${token}","direction":"add","amount":"1","metadata":{"a":1,"a":2}}`,
      `{"subaccount":"${token}","direction":"add","amount":"1","\\u0061mount":"2"}`,
    ]) {
      const r = await stack.call('POST', '/v1/transfers', body, TOKENS.operator);
      expect({ body, status: r.status, code: r.json?.error?.code }).toEqual({ body, status: 400, code: 'validation_failed' });
      expect(r.json.error.message).toMatch(/appears twice/);
    }
    const dupBatch = await stack.call('POST', '/v1/transfers/batch', `{"transfers":[{"subaccount":"${token}","direction":"add","amount":"1","amount":"2"}]}`, TOKENS.operator);
    expect([dupBatch.status, dupBatch.json?.error?.code]).toEqual([400, 'validation_failed']);
    expect(await footprint()).toEqual(before);
  });

  it('without JOURNAL_SIGNING_KEY no digest is taken (409 naming the setting), and the list says there is no key', async () => {
    const r = await stack.call('POST', '/v1/audit/digests');
    expect([r.status, r.json?.error?.code]).toEqual([409, 'signing_key_not_configured']);
    expect(r.json.error.message).toMatch(/JOURNAL_SIGNING_KEY/);
    const list = await stack.call('GET', '/v1/audit/digests', undefined, TOKENS.viewer);
    expect(list.json).toMatchObject({ publicKey: null, keyId: null, nextCursor: null });
  });

  it('/metrics with METRICS_TOKEN: 401 without the token (api and worker), 200 with it; both listen on loopback only', async () => {
    const w = await stack.startWorker();
    for (const base of [stack.baseUrl, w.metricsUrl!]) {
      for (const authorization of [undefined, 'Bearer wrong', `Bearer ${metricsToken}x`, `Basic ${metricsToken}`, `Bearer ${TOKENS.admin}`]) {
        const r = await fetch(`${base}/metrics`, { headers: authorization ? { authorization } : {} });
        expect({ base, authorization, status: r.status }).toEqual({ base, authorization, status: 401 });
        expect(((await r.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
      }
      const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/^# HELP /m);
      // Health stays open (container health checks).
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
    }
    // HOST and WORKER_METRICS_HOST default to 127.0.0.1: another address of this machine
    // (another loopback address, and a network interface's when there is one) is refused.
    const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    for (const other of ['127.0.0.2', ...(external ? [external] : [])]) {
      for (const port of [new URL(stack.baseUrl).port, new URL(w.metricsUrl!).port]) {
        const refused = await new Promise<string>((resolve) => {
          const req = request({ host: other, port: Number(port), path: '/health/live', timeout: 2_000 }, (res) => { res.resume(); resolve(`answered ${res.statusCode}`); });
          req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
          req.on('timeout', () => { req.destroy(); resolve('timeout'); });
          req.end();
        });
        expect({ other, port, refused }).toEqual({ other, port, refused: 'ECONNREFUSED' });
      }
    }
  });
});

describe('POST /v1/subaccounts never leaves a provider write without a ledger row', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ subaccounts: 1, worker: false });
    expect((await stack.call('POST', '/v1/subaccounts/import')).status).toBe(200);
  });
  afterAll(async () => { await stack?.close(); });

  const ledgerRow = async (email: string) => (await stack.db.query<{ token: string }>(
    'SELECT token FROM subaccounts WHERE provider_account_id = $1 AND email = $2', [stack.providerAccount, email]))[0]?.token ?? null;
  const intent = async (email: string) => (await stack.db.query<{ status: string; token: string | null }>(
    'SELECT status, token FROM subaccount_creations WHERE provider_account_id = $1 AND email = $2', [stack.providerAccount, email]))[0] ?? null;
  const atProvider = (email: string) => stack.sandbox.state.subaccountsOf(stack.apiKey).filter((s) => s.email === email);

  it('a local failure after the provider created it: the intent holds the token; the retry completes it without a second provider call', async () => {
    const email = `after-call-${randomBytes(4).toString('hex')}@example.com`;
    // A fault after the provider answered: booking the sub-account fails in Postgres.
    const fn = `fail_${randomBytes(4).toString('hex')}`;
    await stack.db.query(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.email = '${email}' THEN RAISE EXCEPTION 'forced failure after the provider call'; END IF; RETURN NEW; END $$`);
    await stack.db.query(`CREATE TRIGGER ${fn} BEFORE INSERT ON subaccounts FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
    try {
      const first = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email, title: 'after the call' });
      expect(first.status).toBe(500);
      expect(first.json.error.code).toBe('internal_error');
      expect(atProvider(email)).toHaveLength(1);
      expect(await ledgerRow(email)).toBeNull();
      // The ledger knows: the intent, with the provider's token.
      expect(await intent(email)).toEqual({ status: 'pending', token: atProvider(email)[0].token });
    } finally {
      await stack.db.query(`DROP TRIGGER ${fn} ON subaccounts`);
      await stack.db.query(`DROP FUNCTION ${fn}()`);
    }
    const retry = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email, title: 'after the call' });
    expect(retry.status).toBe(201);
    expect(retry.json.token).toBe(atProvider(email)[0].token);
    expect(atProvider(email)).toHaveLength(1);
    expect(await ledgerRow(email)).toBe(retry.json.token);
    expect(await intent(email)).toEqual({ status: 'created', token: retry.json.token });
    const journal = await stack.db.query('SELECT 1 FROM journal_entries WHERE provider_account_id = $1 AND action = $2 AND entity_id = $3', [stack.providerAccount, 'subaccount.created', retry.json.token]);
    expect(journal).toHaveLength(1);
    // Once created, the same request is a 409 naming it, and nothing is created again.
    const again = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email, title: 'after the call' });
    expect([again.status, again.json.error.code]).toEqual([409, 'subaccount_exists']);
    expect(atProvider(email)).toHaveLength(1);
  });

  it('the provider created it but the answer was lost: 502, intent pending; the retry finds it in the list and books it', async () => {
    const email = `lost-answer-${randomBytes(4).toString('hex')}@example.com`;
    stack.sandbox.faults.add({ route: 'create', fault: 'apply_then_drop', count: 1 });
    const first = await stack.call('POST', '/v1/subaccounts', { type: 'advanced', email, isBuyer: true });
    expect([first.status, first.json.error.code]).toEqual([502, 'provider_unavailable']);
    expect(atProvider(email)).toHaveLength(1);
    expect(await intent(email)).toMatchObject({ status: 'pending', token: null });
    // A retry with other details does not complete someone else's intent.
    const other = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email });
    expect([other.status, other.json.error.code]).toEqual([409, 'subaccount_exists']);
    const retry = await stack.call('POST', '/v1/subaccounts', { type: 'advanced', email, isBuyer: true });
    expect(retry.status).toBe(201);
    expect(retry.json.token).toBe(atProvider(email)[0].token);
    expect(await ledgerRow(email)).toBe(retry.json.token);
    expect(atProvider(email)).toHaveLength(1);
  });

  it('a provider refusal records a failed intent and books nothing; a corrected retry succeeds', async () => {
    const email = `refused-${randomBytes(4).toString('hex')}@example.com`;
    stack.sandbox.faults.add({ route: 'create', fault: 'error_code', code: 2, message: 'sub-accounts not enabled', count: 1 });
    const first = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email });
    expect([first.status, first.json.error.code]).toEqual([422, 'provider_rejected']);
    expect(await intent(email)).toMatchObject({ status: 'failed', token: null });
    expect(await ledgerRow(email)).toBeNull();
    const retry = await stack.call('POST', '/v1/subaccounts', { type: 'simple', email });
    expect(retry.status).toBe(201);
    expect(await ledgerRow(email)).toBe(retry.json.token);
  });
});
