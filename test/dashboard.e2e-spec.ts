import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { ROOT, Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * The dashboard in a real headless Chromium (Debian's package, driven by playwright-core)
 * against the whole stack: sign in with a token, see a posted transfer and the balances,
 * void an in-doubt transfer, resolve a drift, run a reconciliation, download a report.
 * A screenshot of every page lands in test-artifacts/dashboard/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts', 'dashboard');

describe('dashboard in a headless browser', () => {
  let stack: Stack;
  let context: BrowserContext;
  let page: Page;
  let userDataDir: string;
  const browserErrors: string[] = [];
  const failedRequests: string[] = [];
  let a: string;
  let b: string;
  let c: string;
  let postedId: string;
  let inDoubtId: string;
  let driftRunId: string;

  /** Retries a Jest assertion about the page until it holds (the page updates asynchronously). */
  async function eventually(check: () => Promise<void>, timeoutMs = 10_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        return await check();
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  const text = async (selector: string) => (await page.locator(selector).textContent()) ?? '';

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  const go = async (hash: string, ready: string) => {
    await page.click(`nav a[href="#${hash}"]`);
    await page.waitForSelector(ready, { state: 'attached' });
  };

  async function reconcile(): Promise<any> {
    const started = await stack.call('POST', '/v1/reconciliations', undefined, TOKENS.operator);
    expect(started.status).toBe(202);
    let run: any;
    await waitFor(async () => {
      run = (await stack.call('GET', `/v1/reconciliations/${started.json.id}`, undefined, TOKENS.viewer)).json;
      return run.status !== 'running';
    }, 20_000, 'the reconciliation run to finish');
    return run;
  }

  beforeAll(async () => {
    // A missing browser is a failure, not a skip: CI installs it (.ci/run).
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium), as .ci/run does`);
    rmSync(SHOTS, { recursive: true, force: true });
    mkdirSync(SHOTS, { recursive: true });

    stack = await startStack({ subaccounts: 3, env: { RECONCILE_CRON: '0 0 1 1 *' } });
    expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin)).json).toMatchObject({ imported: 3 });
    [a, b, c] = stack.tokens();

    const posted = await stack.call('POST', '/v1/transfers', { subaccount: a, direction: 'add', amount: '20', reference: 'March allowance' }, TOKENS.operator);
    expect(posted.status).toBe(202);
    postedId = posted.json.id;
    await waitFor(async () => (await stack.call('GET', `/v1/transfers/${postedId}`, undefined, TOKENS.viewer)).json.status === 'posted', 10_000, 'the transfer to be posted');

    // The provider never receives this one: the answer is lost, so the transfer is in doubt.
    stack.sandbox.faults.add({ route: 'add', fault: 'drop_before_apply', count: 1 });
    const doubtful = await stack.call('POST', '/v1/transfers', { subaccount: c, direction: 'add', amount: '7', reference: 'lost answer' }, TOKENS.operator);
    inDoubtId = doubtful.json.id;
    await waitFor(async () => (await stack.call('GET', `/v1/transfers/${inDoubtId}`, undefined, TOKENS.viewer)).json.status === 'in_doubt', 15_000, 'the transfer to be in doubt');

    // SMS sent from sub-account a: the provider now shows 2.500 less than the ledger.
    stack.sandbox.state.usage({ token: a }, '2.5');
    const run = await reconcile();
    expect(run.status).toBe('completed');
    expect(run.items.find((i: any) => i.account === `sub:${a}`)).toMatchObject({ status: 'drift', expected: '20.000', observed: '17.500', drift: '-2.500' });
    driftRunId = run.id;

    userDataDir = mkdtempSync(join(tmpdir(), 'credit-ledger-chromium-'));
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      acceptDownloads: true, viewport: { width: 1360, height: 900 }, locale: 'en-GB', timezoneId: 'UTC',
    });
    page = context.pages()[0] ?? (await context.newPage());
    // A CSP violation or a script error shows up here; failed requests are checked separately.
    page.on('pageerror', (err) => browserErrors.push(`pageerror: ${err.message}`));
    page.on('console', (msg) => { if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) browserErrors.push(`console: ${msg.text()}`); });
    page.on('response', (res) => { if (res.status() >= 400) failedRequests.push(`${res.status()} ${new URL(res.url()).pathname}`); });
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await stack?.close();
  });

  it('serves the page and chart.js from the API, with a strict content security policy', async () => {
    const html = await fetch(`${stack.baseUrl}/dashboard`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(html.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await html.text()).toContain('/dashboard/assets/chart.umd.js');
    const chartJs = await fetch(`${stack.baseUrl}/dashboard/assets/chart.umd.js`);
    expect(chartJs.status).toBe(200);
    expect(await chartJs.text()).toContain('Chart.js v4');
    expect((await fetch(`${stack.baseUrl}/dashboard/assets/package.json`)).status).toBe(404);
    // The Docker image runs from dist/ only: it must ship the page's files too.
    expect(readFileSync(join(ROOT, 'Dockerfile'), 'utf8')).toMatch(/^COPY apps\/api\/dashboard \.\/apps\/api\/dashboard$/m);
  });

  it('GET /v1/me and the account history route answer what the page relies on', async () => {
    expect((await stack.call('GET', '/v1/me', undefined, TOKENS.viewer)).json).toEqual({ name: expect.any(String), role: 'viewer' });
    expect((await stack.call('GET', '/v1/me', undefined, null)).status).toBe(401);
    const hist = await stack.call('GET', `/v1/accounts/sub:${a}/history`, undefined, TOKENS.viewer);
    expect(hist.status).toBe(200);
    expect(hist.json.ledger[0].posted).toBe('0.000');
    expect(hist.json.ledger[hist.json.ledger.length - 1].posted).toBe('20.000');
    const readings = hist.json.observations.map((o: any) => [o.source, o.observed, o.expected, o.drift, o.runId]);
    expect(readings).toEqual([['transfer', '20.000', '20.000', '0.000', null], ['list', '17.500', '20.000', '-2.500', driftRunId]]);
    expect((await stack.call('GET', '/v1/accounts/sub:nope/history', undefined, TOKENS.viewer)).status).toBe(404);
    expect((await stack.call('GET', `/v1/accounts/main/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`, undefined, TOKENS.viewer)).status).toBe(400);
  });

  it('refuses a wrong token, then signs in with the operator token and shows balances and drift', async () => {
    await page.goto(`${stack.baseUrl}/dashboard`);
    await page.waitForSelector('#login-form');
    await shot('01-sign-in');
    await page.fill('#token', 'not-a-token');
    await page.click('#login-form button[type=submit]');
    await eventually(async () => expect(await text('#login-error')).toBe('That token was not accepted.'));

    await page.fill('#token', TOKENS.operator);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#subaccounts table');
    expect(await page.textContent('#who-role')).toBe('operator');
    const row = page.locator('#subaccounts tbody tr', { hasText: a });
    const cells = await row.locator('td').allTextContents();
    // Sub-account, posted, pending, available, provider balance, observed, drift.
    expect(cells.slice(1, 5)).toEqual(['20.000', '0.000', '20.000', '17.500']);
    expect(cells[6]).toBe('−2.500');
    expect(await page.locator('#summary-cards').textContent()).toContain('Open drift findings1');
    await shot('02-overview');
  });

  it('shows the posted transfer and voids the in-doubt one with the evidence in view', async () => {
    await go('transfers', '#transfers table');
    const posted = await page.locator(`[data-transfer-row="${postedId}"] td`).allTextContents();
    expect(posted.slice(2, 6)).toEqual(['credit', '20.000', 'posted', 'March allowance']);
    const card = page.locator(`[data-transfer="${inDoubtId}"]`);
    // The run read the provider after the lost call: no gap, so it was not applied.
    await eventually(async () => expect(await card.locator('.hint').textContent()).toContain('it looks not applied'));
    await shot('03-transfers');
    await card.locator('input[name=reason]').fill('Provider never received it (sandbox log)');
    await card.locator('button[value=not_applied]').click();
    await eventually(async () => expect(await text('#status')).toContain(`Transfer ${inDoubtId} is now voided.`));
    const after = await stack.call('GET', `/v1/transfers/${inDoubtId}`, undefined, TOKENS.viewer);
    expect(after.json).toMatchObject({ status: 'voided', resolution: { outcome: 'not_applied', reason: 'Provider never received it (sandbox log)' } });
    await eventually(async () => expect(await text('#in-doubt')).toContain('No transfer is waiting for a decision.'));
  });

  it('charts the ledger and provider balance and the drift of a sub-account', async () => {
    await go('history', '#observations table');
    await page.selectOption('#history-account', `sub:${a}`);
    await eventually(async () => expect(await page.locator('#observations tbody tr').first().textContent()).toContain('−2.500'));
    // chart.js drew both datasets (the page keeps no data of its own in the canvas).
    const drawn = await page.evaluate(() => {
      const chart = (globalThis as any).Chart.getChart('balance-chart');
      return chart.data.datasets.map((d: any) => d.data.length);
    });
    expect(drawn).toEqual([3, 2]);
    await shot('04-history');
  });

  it('resolves the drift as usage from the page, then a new run matches everything', async () => {
    await go('reconciliation', '#runs table');
    const finding = page.locator('article.finding', { hasText: a });
    expect(await finding.locator('select[name=as]').inputValue()).toBe('usage');
    await shot('05-reconciliation-open-drift');
    await finding.locator('input[name=reason]').fill('SMS campaign, March');
    await finding.locator('button[type=submit]').click();
    await eventually(async () => expect(await text('#status')).toContain('booked as usage'));
    const drifts = await stack.call('GET', '/v1/drifts?status=resolved', undefined, TOKENS.viewer);
    expect(drifts.json.data.find((f: any) => f.account === `sub:${a}`)).toMatchObject({ status: 'resolved', drift: '-2.500', resolution: { as: 'usage', reason: 'SMS campaign, March' } });
    await eventually(async () => expect(await text('#open-drifts')).toContain('No open drift'));

    await page.click('#run-reconciliation');
    await eventually(async () => expect(await text('#status')).toContain('Reconciliation completed: 4 matched, 0 drifted'), 20_000);
    await page.waitForSelector('#run-detail table');
    await shot('06-reconciliation-after');
  });

  it('downloads the reconciliation CSV and the journal through the page', async () => {
    await go('reports', '#statement-account option');
    await page.selectOption('#report-run', driftRunId);
    const [report] = await Promise.all([page.waitForEvent('download'), page.click('#report-form button[type=submit]')]);
    expect(report.suggestedFilename()).toBe(`reconciliation-${driftRunId}.csv`);
    const csv = readFileSync((await report.path())!, 'utf8').trim().split(/\r?\n/);
    expect(csv[0]).toBe('account,source,observed_at,expected,observed,drift,status,explanation');
    expect(csv.find((l) => l.startsWith(`sub:${a},`))).toContain(',20.000,17.500,-2.500,drift,');

    const [journal] = await Promise.all([page.waitForEvent('download'), page.click('#journal-form button[type=submit]')]);
    const journalCsv = readFileSync((await journal.path())!, 'utf8');
    expect(journalCsv).toContain('SMS campaign, March');
    await shot('07-reports');
  });

  it('shows top-up policies with their next run, or says top-ups are not available on this server', async () => {
    const route = await stack.call('GET', '/v1/topup-policies', undefined, TOKENS.viewer);
    if (route.status === 404) {
      await go('topups', '#topups > *');
      expect(await text('#topups')).toContain('Top-ups are not available on this server.');
    } else {
      const policy = await stack.call('POST', '/v1/topup-policies', { subaccount: b, mode: 'fixed', amount: '5', schedule: '0 6 1 * *', timezone: 'Europe/Paris' }, TOKENS.admin);
      expect(policy.status).toBe(201);
      await go('topups', '#topups article');
      const card = await text('#topups article');
      expect(card).toContain('add 5.000');
      expect(card).toContain('0 6 1 * * (Europe/Paris)');
      expect(await page.locator('#topups article time').first().getAttribute('datetime')).toBe(policy.json.nextRunAt);
      expect(card).toContain('No run yet.');
    }
    await shot('08-topups');
  });

  it('a viewer sees everything but the operator actions are disabled', async () => {
    await page.click('#sign-out');
    expect(await text('#main')).not.toContain('SMS campaign, March');
    await page.fill('#token', TOKENS.viewer);
    await page.click('#login-form button[type=submit]');
    await eventually(async () => expect(await text('#who-role')).toBe('viewer'));
    await go('reconciliation', '#runs table');
    expect(await page.locator('#run-reconciliation').isDisabled()).toBe(true);
    expect(await page.locator('#run-reconciliation').getAttribute('title')).toBe('Requires the operator role (you are viewer)');
    await shot('09-reconciliation-viewer');
  });

  it('ran without a script error, and the only failed requests were the expected ones', async () => {
    expect(browserErrors).toEqual([]);
    const topups = await stack.call('GET', '/v1/topup-policies', undefined, TOKENS.viewer);
    // The wrong token at sign-in, and the top-up routes when this server has none.
    expect([...new Set(failedRequests)]).toEqual(['401 /v1/me', ...(topups.status === 404 ? ['404 /v1/topup-policies'] : [])]);
  });
});
