import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrowserContext, chromium, Page } from 'playwright-core';
import { ROOT, Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * The dashboard in a real headless Chromium (Debian's package, driven by playwright-core)
 * against the whole stack: sign in with a token, see a posted transfer and the balances,
 * open a transfer's page (postings, provider answer, journal, evidence), filter and page
 * the transfers, record one from the form (its idempotency key replays a lost answer),
 * void an in-doubt transfer, resolve drifts, run a reconciliation, download a report, see
 * a refresh failure marked stale, fit a 390 px phone, keep header buttons legible on hover.
 * A screenshot of every page lands in test-artifacts/dashboard/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = join(ROOT, 'test-artifacts', 'dashboard');
const INSTANT = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/;

/** WCAG contrast ratio of two CSS rgb()/rgba() colours. */
function contrast(fg: string, bg: string): number {
  const lum = (c: string) => {
    const [r, g, b] = (c.match(/[\d.]+/g) ?? []).slice(0, 3).map(Number).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}

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
  let failedId: string;
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
  const finalStatus = async (id: string) => {
    let t: any;
    await waitFor(async () => {
      t = (await stack.call('GET', `/v1/transfers/${id}`, undefined, TOKENS.viewer)).json;
      return ['posted', 'failed', 'in_doubt', 'voided'].includes(t.status);
    }, 15_000, `transfer ${id} to reach a final state`);
    return t;
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
    expect((await finalStatus(postedId)).status).toBe('posted');

    // The provider refuses this one (not enough credit, code 8): failed, with its reason.
    stack.sandbox.faults.add({ route: 'add', fault: 'error_code', code: 8, message: 'Crédit insuffisant', count: 1 });
    const refused = await stack.call('POST', '/v1/transfers', { subaccount: b, direction: 'add', amount: '3', reference: 'refused by the provider' }, TOKENS.operator);
    failedId = refused.json.id;
    expect((await finalStatus(failedId)).status).toBe('failed');

    // The provider never receives this one: the answer is lost, so the transfer is in doubt.
    stack.sandbox.faults.add({ route: 'add', fault: 'drop_before_apply', count: 1 });
    const doubtful = await stack.call('POST', '/v1/transfers', { subaccount: c, direction: 'add', amount: '7', reference: 'lost answer' }, TOKENS.operator);
    inDoubtId = doubtful.json.id;
    expect((await finalStatus(inDoubtId)).status).toBe('in_doubt');

    // 30 small transfers to b, for paging.
    const batch = await stack.call('POST', '/v1/transfers/batch', { transfers: Array.from({ length: 30 }, (_, i) => ({ subaccount: b, direction: 'add', amount: '0.1', reference: `paging ${i}` })) }, TOKENS.operator);
    expect(batch.status).toBe(207);
    await waitFor(async () => (await stack.statusCounts()).posted === 31, 30_000, 'the batch to be posted');

    // SMS sent from sub-account a: the provider shows 2.500 less than the ledger; b shows 4.300 more.
    stack.sandbox.state.usage({ token: a }, '2.5');
    stack.sandbox.state.setBalance({ token: b }, '7.3');
    const run = await reconcile();
    expect(run.status).toBe('completed');
    expect(run.items.find((i: any) => i.account === `sub:${a}`)).toMatchObject({ status: 'drift', expected: '20.000', observed: '17.500', drift: '-2.500' });
    expect(run.items.find((i: any) => i.account === `sub:${b}`)).toMatchObject({ status: 'drift', expected: '3.000', observed: '7.300', drift: '4.300' });
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
  }, 150_000);

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
    // The import's list reading (evidence for later in-doubt calls), the transfer's answer, the run's reading.
    expect(readings).toEqual([['list', '0.000', '0.000', '0.000', null], ['transfer', '20.000', '20.000', '0.000', null], ['list', '17.500', '20.000', '-2.500', driftRunId]]);
    expect((await stack.call('GET', '/v1/accounts/sub:nope/history', undefined, TOKENS.viewer)).status).toBe(404);
    expect((await stack.call('GET', `/v1/accounts/main/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z`, undefined, TOKENS.viewer)).status).toBe(400);
  });

  it('refuses a wrong token, then signs in with the operator token and shows balances, drift and gross drift totals', async () => {
    await page.goto(`${stack.baseUrl}/dashboard`);
    await page.waitForSelector('#login-form');
    await shot('01-sign-in');
    await page.fill('#token', 'not-a-token');
    await page.click('#login-form button[type=submit]');
    await eventually(async () => expect(await text('#login-error')).toBe('That token was not accepted.'));

    await page.fill('#token', TOKENS.operator);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#subaccounts table');
    // Auto-refresh is tested on its own below; off here so a redraw never lands mid-step.
    await page.uncheck('#auto-refresh');
    expect(await page.textContent('#who-role')).toBe('operator');
    const row = page.locator('#subaccounts tbody tr', { hasText: a });
    const cells = await row.locator('td').allTextContents();
    // Sub-account, posted, pending, available, provider balance, observed, drift.
    expect(cells.slice(1, 5)).toEqual(['20.000', '0.000', '20.000', '17.500']);
    expect(cells[6]).toBe('−2.500');
    const cards = await text('#summary-cards');
    expect(cards).toContain('Open drift findings2');
    // Gross: |−2.500| + |+4.300| = 6.800 (netted it would be 1.800).
    expect(cards).toContain('gross 6.800');
    expect(cards).toContain('−2.500 / +4.300');
    expect(await text('#freshness')).toMatch(/^Figures as of \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    await shot('02-overview');
  });

  it('header buttons stay legible when hovered', async () => {
    for (const id of ['#refresh', '#sign-out']) {
      await page.hover(id);
      const colours = await page.evaluate((sel) => {
        const g = globalThis as any;
        const el = g.document.querySelector(sel);
        const bg = g.getComputedStyle(el).backgroundColor;
        return { fg: g.getComputedStyle(el).color as string, bg: (bg === 'rgba(0, 0, 0, 0)' ? g.getComputedStyle(g.document.querySelector('.top')).backgroundColor : bg) as string };
      }, id);
      expect(contrast(colours.fg, colours.bg)).toBeGreaterThanOrEqual(4.5);
    }
    await page.mouse.move(0, 500);
  });

  it('lists transfers with a failure-reason column in plain words, the raw text in its tooltip', async () => {
    await go('transfers', '#transfers table');
    const posted = await page.locator(`[data-transfer-row="${postedId}"] td`).allTextContents();
    expect(posted.slice(3, 7)).toEqual(['credit', '20.000', 'posted', 'March allowance']);
    expect(posted[1]).toMatch(INSTANT);
    const reason = page.locator(`[data-transfer-row="${failedId}"] .reason`);
    expect(await reason.textContent()).toBe('Refused: the provider says the source has too little credit. Nothing was applied.');
    expect(await reason.getAttribute('title')).toBe('provider_rejected:insufficient_credit');
    // The in-doubt card says why in words, the raw network error kept in the tooltip.
    const why = page.locator(`[data-transfer="${inDoubtId}"] dd .reason`).first();
    const raw = (await stack.call('GET', `/v1/transfers/${inDoubtId}`, undefined, TOKENS.viewer)).json.failureReason;
    expect(await why.getAttribute('title')).toBe(raw);
    expect(await why.textContent()).not.toContain(raw);
    expect(await why.textContent()).toMatch(/may or may not have been applied/);
    await shot('03-transfers');
  });

  it('filters transfers by status, sub-account and dates and pages through them with the API cursors', async () => {
    await page.selectOption('#transfers-subaccount', b);
    await page.selectOption('#transfers-limit', '25');
    await eventually(async () => expect(await page.locator('#transfers tbody tr').count()).toBe(25));
    expect(await text('#transfers-pager .page-no')).toBe('Page 1 · 25 shown');
    const firstPage = await page.locator('#transfers tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-transfer-row')));
    await page.click('#transfers-pager .next');
    // b has 31 transfers: the refused one and the 30 of the batch.
    await eventually(async () => expect(await page.locator('#transfers tbody tr').count()).toBe(6));
    expect(await page.locator('#transfers-pager .next').isDisabled()).toBe(true);
    const secondPage = await page.locator('#transfers tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-transfer-row')));
    expect(secondPage.filter((id) => firstPage.includes(id))).toEqual([]);
    await shot('04-transfers-page-2');
    await page.click('#transfers-pager .prev');
    await eventually(async () => expect(await page.locator('#transfers tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-transfer-row')))).toEqual(firstPage));

    // Search the references (case-insensitive, any part): "paging 2" and "paging 20" to "paging 29".
    await page.fill('#transfer-search', 'PAGING 2');
    await page.click('#transfers-form button[type=submit]');
    await eventually(async () => expect(await page.locator('#transfers tbody tr').count()).toBe(11));
    expect(new Set(await page.locator('#transfers tbody td:nth-child(7)').allTextContents())).toEqual(new Set(['paging 2', ...Array.from({ length: 10 }, (_, i) => `paging 2${i}`)]));
    // A LIKE wildcard is searched for as itself.
    await page.fill('#transfer-search', '%');
    await page.click('#transfers-form button[type=submit]');
    await eventually(async () => expect(await text('#transfers')).toBe('No transfer matches these filters.'));
    // A transfer id opens it.
    await page.fill('#transfer-search', failedId.toUpperCase());
    await page.click('#transfers-form button[type=submit]');
    await page.waitForSelector('#transfer-facts');
    expect(await text('#transfer-facts')).toContain(failedId);
    await page.goBack();
    await page.waitForSelector('#transfers table');

    await page.selectOption('#transfers-status', 'failed');
    await eventually(async () => expect(await page.locator('#transfers tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-transfer-row')))).toEqual([failedId]));
    await page.selectOption('#transfers-status', '');
    await page.selectOption('#transfers-subaccount', '');
    const tomorrow = new Date(Date.now() + 86400e3).toISOString().slice(0, 10);
    await page.fill('#transfers-from', tomorrow);
    await page.dispatchEvent('#transfers-from', 'change');
    await eventually(async () => expect(await text('#transfers')).toBe('No transfer matches these filters.'));
    await page.fill('#transfers-from', '');
    await page.dispatchEvent('#transfers-from', 'change');
    await page.selectOption('#transfers-limit', '50');
    await eventually(async () => expect(await page.locator('#transfers tbody tr').count()).toBe(33));
  });

  it('opens a transfer: its ledger postings, the provider answer, its journal, and "no evidence yet"', async () => {
    await page.click(`[data-transfer-row="${postedId}"] a[href="#transfer/${postedId}"]`);
    // The page shown before (the failed transfer's) has the same elements: wait for this one's.
    await eventually(async () => expect(await text('#transfer-facts')).toContain(postedId));
    await page.waitForSelector('#transfer-postings table');
    expect(await text('#transfer-title')).toContain('Credit of 20.000 to');
    const postings = await page.locator('#transfer-postings tbody tr').evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll('td')).slice(1).map((td: any) => td.textContent)));
    expect(postings).toEqual([['reserved', 'main (provider account)', '', '20.000'], ['reserved', expect.stringContaining(a), '20.000', '']]);
    expect(await text('#transfer-postings caption')).toMatch(/^posted at \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$/);
    const provider = await text('#transfer-provider');
    expect(provider).toContain('HTTP code200');
    expect(provider).toContain('Sub-account credit after20.000');
    const actions = await page.locator('#transfer-journal tbody td:nth-child(3)').allTextContents();
    expect(actions).toEqual(expect.arrayContaining(['transfer.recorded', 'ledger_transaction.reserved', 'transfer.posted', 'ledger_transaction.posted']));
    const evidence = (await stack.call('GET', `/v1/transfers/${postedId}`, undefined, TOKENS.viewer)).json.evidence;
    if (evidence) await page.waitForSelector('#evidence');
    else expect(await text('#transfer-evidence')).toContain('No evidence yet');
    await shot('05-transfer-detail');

    // The failed one: its reason in words, the raw text one click away.
    await page.goto(`${stack.baseUrl}/dashboard#transfer/${failedId}`);
    await eventually(async () => expect(await text('#transfer-facts .reason-box')).toContain('Refused: the provider says the source has too little credit'));
    expect(await text('#transfer-facts .reason-box code')).toBe('provider_rejected:insufficient_credit');
    await shot('06-transfer-failed');

    // The in-doubt one, with the evidence GET /v1/transfers/:id carries (when the server
    // gathers it; shaped here on the real answer if this server does not yet).
    const real = (await stack.call('GET', `/v1/transfers/${inDoubtId}`, undefined, TOKENS.viewer)).json;
    const shaped = real.evidence ?? {
      status: 'decided', outcome: 'not_applied', summary: 'Both balances read after the call are unchanged: the credit was not applied.',
      readings: [{ source: 'me', at: real.updatedAt, subaccountBalance: null, mainBalance: '9980.000' }, { source: 'list', at: real.updatedAt, subaccountBalance: '0.000', mainBalance: null }],
      hypotheses: [{ outcome: 'applied', refuted: true, needs: null, why: 'the sub-account would show 7.000' }, { outcome: 'not_applied', refuted: false, needs: null, why: 'matches every reading' }],
      assumptions: ['no other movement on the sub-account between the readings'], suggestion: 'void it (not applied)', evaluatedAt: real.updatedAt,
    };
    await page.route(`**/v1/transfers/${inDoubtId}`, async (route) => {
      const res = await route.fetch();
      await route.fulfill({ response: res, json: { ...(await res.json()), evidence: shaped } });
    });
    await page.goto(`${stack.baseUrl}/dashboard#transfer/${inDoubtId}`);
    await page.waitForSelector('#evidence');
    expect(await text('#evidence')).toContain(shaped.summary);
    expect(await page.locator('#evidence ul.hypotheses li').count()).toBe(shaped.hypotheses.length);
    expect(await page.locator('#evidence tbody tr').count()).toBe(shaped.readings.length);
    expect(await page.locator('#transfer-facts form[aria-label^="Resolve transfer"] button[value=not_applied]').count()).toBe(1);
    await shot('06b-transfer-in-doubt-evidence');
    await page.unroute(`**/v1/transfers/${inDoubtId}`);
  });

  it('records a transfer from the form; a lost answer is sent again with the same idempotency key and recorded once', async () => {
    await page.goto(`${stack.baseUrl}/dashboard#transfers`);
    await page.waitForSelector('#transfers table');
    await page.click('#new-transfer-box summary');
    await page.selectOption('#nt-subaccount', a);
    await page.fill('#nt-amount', '1.250');
    await page.fill('#nt-reference', 'from the form');
    const key = await text('#nt-key');
    expect(key).toMatch(/^dashboard-[0-9a-f-]{36}$/);
    // The server records it, the browser never sees the answer.
    let intercepted = 0;
    await page.route('**/v1/transfers', async (route) => {
      if (route.request().method() !== 'POST' || intercepted++) return route.fallback();
      await route.fetch();
      await route.abort('connectionreset');
    });
    await page.click('#new-transfer button[type=submit]');
    await eventually(async () => expect(await text('#nt-result')).toContain('Not recorded'));
    expect(await text('#nt-key')).toBe(key);
    await shot('07-new-transfer-lost-answer');
    await page.click('#new-transfer button[type=submit]');
    await eventually(async () => expect(await text('#nt-result')).toContain('Recorded'));
    await page.unroute('**/v1/transfers');
    expect(await text('#nt-key')).not.toBe(key);
    const mine = (await stack.call('GET', `/v1/transfers?subaccount=${a}&limit=100`, undefined, TOKENS.viewer)).json.data.filter((t: any) => t.reference === 'from the form');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ amount: '1.250', direction: 'add' });
    await shot('08-new-transfer-recorded');
    expect((await finalStatus(mine[0].id)).status).toBe('posted');
  });

  it('voids the in-doubt transfer with the evidence in view', async () => {
    await go('transfers', '#transfers table');
    const card = page.locator(`[data-transfer="${inDoubtId}"]`);
    // The run read the provider after the lost call: no gap, so it was not applied.
    await eventually(async () => expect(await card.locator('.hint').textContent()).toMatch(/it looks not applied|Evidence/));
    await card.locator('input[name=reason]').fill('Provider never received it (sandbox log)');
    await card.locator('button[value=not_applied]').click();
    await eventually(async () => expect(await text('#status')).toContain(`Transfer ${inDoubtId} is now voided.`));
    const after = await stack.call('GET', `/v1/transfers/${inDoubtId}`, undefined, TOKENS.viewer);
    expect(after.json).toMatchObject({ status: 'voided', resolution: { outcome: 'not_applied', reason: 'Provider never received it (sandbox log)' } });
    await eventually(async () => expect(await text('#in-doubt')).toContain('No transfer is waiting for a decision.'));
  });

  it('charts the ledger and provider balance and the drift, in the same colours as the tables', async () => {
    await go('history', '#observations table');
    await page.selectOption('#history-account', `sub:${a}`);
    await eventually(async () => expect(await page.locator('#observations tbody tr').first().textContent()).toContain('−2.500'));
    // chart.js drew both datasets (the page keeps no data of its own in the canvas).
    const drawn = await page.evaluate(() => {
      const chart = (globalThis as any).Chart.getChart('balance-chart');
      return chart.data.datasets.map((d: any) => d.data.length);
    });
    expect(drawn).toEqual([4, 4]); // the import now stores a list reading too
    // One colour meaning: the negative drift's bar and its badge in the table are the same red.
    const colours = await page.evaluate(() => {
      const g = globalThis as any;
      const bars = g.Chart.getChart('drift-chart').data.datasets[0].backgroundColor as string[];
      const probe = g.document.createElement('span');
      g.document.body.append(probe);
      const rgb = (c: string) => { probe.style.color = c; return g.getComputedStyle(probe).color as string; };
      const badge = g.document.querySelector('#observations .badge.drift-neg');
      const out = { lastBar: rgb(bars[bars.length - 1]), badge: g.getComputedStyle(badge).color as string };
      probe.remove();
      return out;
    });
    expect(colours.lastBar).toBe(colours.badge);
    expect(await page.locator('#observations time').first().textContent()).toMatch(INSTANT);
    await shot('09-history');
  });

  it('pages the provider readings when there are many', async () => {
    // 30 more readings of b: the transfer answers of the batch.
    await page.selectOption('#history-account', `sub:${b}`);
    await eventually(async () => expect(await page.locator('#observations tbody tr').count()).toBe(25));
    expect(await text('#observations-pager .page-no')).toMatch(/^Page 1 of 2 · 3\d in all$/);
    await page.click('#observations-pager .next');
    await eventually(async () => expect(await text('#observations-pager .page-no')).toMatch(/^Page 2 of 2/));
  });

  it('fits a 390 px wide phone screen without horizontal scrolling', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const [hash, ready] of [['history', '#observations table'], ['transfers', '#transfers table'], [`transfer/${postedId}`, '#transfer-journal table'], ['reconciliation', '#runs table'], ['overview', '#subaccounts table']]) {
        await page.goto(`${stack.baseUrl}/dashboard#${hash}`);
        await page.waitForSelector(ready);
        await page.waitForTimeout(200);
        const width = await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth as number);
        expect({ hash, width }).toEqual({ hash, width: 390 });
        await shot(`10-phone-${hash.split('/')[0]}`);
      }
    } finally {
      await page.setViewportSize({ width: 1360, height: 900 });
    }
  });

  it('resolves both drifts from the page, then a new run matches everything', async () => {
    await page.goto(`${stack.baseUrl}/dashboard#reconciliation`);
    await page.waitForSelector('#runs table');
    expect(await text('#open-drifts-total')).toContain('2 open · gross 6.800');
    const finding = page.locator('article.finding', { hasText: a });
    expect(await finding.locator('select[name=as]').inputValue()).toBe('usage');
    await shot('11-reconciliation-open-drift');
    await finding.locator('input[name=reason]').fill('SMS campaign, March');
    await finding.locator('button[type=submit]').click();
    await eventually(async () => expect(await text('#status')).toContain('booked as usage'));
    const other = page.locator('article.finding', { hasText: b });
    expect(await other.locator('select[name=as]').inputValue()).toBe('purchase');
    await other.locator('input[name=reason]').fill('Bought credit at the provider');
    await other.locator('button[type=submit]').click();
    await eventually(async () => expect(await text('#status')).toContain('booked as purchase'));
    const drifts = await stack.call('GET', '/v1/drifts?status=resolved', undefined, TOKENS.viewer);
    expect(drifts.json.data.find((f: any) => f.account === `sub:${a}`)).toMatchObject({ status: 'resolved', drift: '-2.500', resolution: { as: 'usage', reason: 'SMS campaign, March' } });
    await eventually(async () => expect(await text('#open-drifts')).toContain('No open drift'));

    await page.click('#run-reconciliation');
    await eventually(async () => expect(await text('#status')).toContain('Reconciliation completed: 4 matched, 0 drifted'), 20_000);
    await page.waitForSelector('#run-detail table');
    await shot('12-reconciliation-after');
  });

  it('downloads the reconciliation CSV and the journal through the page, and pages the journal', async () => {
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
    await shot('13-exports');

    await go('journal', '#journal table');
    expect(await page.locator('#journal tbody tr').count()).toBe(50);
    const first = await text('#journal tbody tr:first-child td:first-child');
    const last = Number(await text('#journal tbody tr:last-child td:first-child'));
    await page.click('#journal-pager .next');
    await eventually(async () => expect(await text('#journal-pager .page-no')).toMatch(/^Page 2/));
    expect(Number(await text('#journal tbody tr:first-child td:first-child'))).toBeGreaterThan(last);
    await page.click('#journal-pager .prev');
    await eventually(async () => expect(await text('#journal tbody tr:first-child td:first-child')).toBe(first));
    await shot('14-journal');
  });

  it('shows the usage report for a month, or says it is not available on this server', async () => {
    const month = new Date().toISOString().slice(0, 7);
    const route = await stack.call('GET', `/v1/reports/usage?month=${month}&format=json`, undefined, TOKENS.viewer);
    await go('usage', '#usage > *');
    if (route.status === 404) {
      expect(await text('#usage')).toContain('The usage report is not available on this server');
      expect(await page.locator('#usage-csv').isDisabled()).toBe(true);
    } else {
      expect(route.status).toBe(200);
      await page.waitForSelector('#usage table');
      expect(await page.locator('#usage tbody tr').count()).toBe(route.json.rows.length + (route.json.totals ? 1 : 0));
      expect(await text('#usage')).toContain(route.json.timeZone);
    }
    expect(await page.inputValue('#usage-month')).toBe(month);
    await shot('15-usage');
  });

  it('shows top-up policies with their next run in UTC and in the policy zone, or says top-ups are not available', async () => {
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
      const time = page.locator('#topups article time').first();
      expect(await time.getAttribute('datetime')).toBe(policy.json.nextRunAt);
      expect(await time.textContent()).toMatch(INSTANT);
      // 06:00 in Paris is 05:00 UTC in winter, 04:00 in summer: the zone is named.
      expect(card).toMatch(/06:00:00 CES?T \(Europe\/Paris\)/);
      expect(card).toContain('No run yet.');
    }
    await shot('16-topups');
  });

  it('marks the figures stale when a refresh fails, and fresh again when it works', async () => {
    await go('overview', '#subaccounts table');
    expect(await page.locator('#stale').isHidden()).toBe(true);
    await page.route('**/v1/**', (route) => route.abort('connectionrefused'));
    try {
      await page.click('#refresh');
      await eventually(async () => expect(await page.locator('#stale').isVisible()).toBe(true));
      expect(await text('#stale')).toMatch(/^Stale: the last refresh failed \(Could not reach the server: .*\)\. The figures below are from \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC and may be out of date\.$/);
      expect(await page.getAttribute('main', 'class')).toContain('stale');
      // The old figures are still there, marked, not replaced by nothing.
      expect(await text('#summary-cards')).toContain('Open drift findings');
      await shot('17-stale');
    } finally {
      await page.unroute('**/v1/**');
    }
    await page.click('#refresh');
    await eventually(async () => expect(await page.locator('#stale').isHidden()).toBe(true));
    expect(await page.getAttribute('main', 'class')).not.toContain('stale');
  });

  it('auto-refresh reloads the figures every 10 s while it is on', async () => {
    await page.check('#auto-refresh');
    const t = await stack.call('POST', '/v1/transfers', { subaccount: c, direction: 'add', amount: '2' }, TOKENS.operator);
    expect((await finalStatus(t.json.id)).status).toBe('posted');
    await go('transfers', '#transfers table');
    await page.uncheck('#auto-refresh');
    await page.check('#auto-refresh');
    const newer = await stack.call('POST', '/v1/transfers', { subaccount: c, direction: 'add', amount: '2.5', reference: 'appears by itself' }, TOKENS.operator);
    await page.locator('body').click({ position: { x: 5, y: 5 } });
    await eventually(async () => expect(await page.locator(`[data-transfer-row="${newer.json.id}"]`).count()).toBe(1), 15_000);
    await page.uncheck('#auto-refresh');
  }, 30_000);

  it('a viewer sees everything but the operator actions, including the new-transfer form, are disabled', async () => {
    await page.click('#sign-out');
    expect(await text('#main')).not.toContain('SMS campaign, March');
    await page.fill('#token', TOKENS.viewer);
    await page.click('#login-form button[type=submit]');
    await eventually(async () => expect(await text('#who-role')).toBe('viewer'));
    await page.uncheck('#auto-refresh');
    await go('reconciliation', '#runs table');
    expect(await page.locator('#run-reconciliation').isDisabled()).toBe(true);
    expect(await page.locator('#run-reconciliation').getAttribute('title')).toBe('Requires the operator role (you are viewer)');
    await shot('18-reconciliation-viewer');
    await go('transfers', '#transfers table');
    await page.click('#new-transfer-box summary');
    expect(await page.locator('#new-transfer-fields').evaluate((f: any) => [f.disabled, f.getAttribute('title')])).toEqual([true, 'Requires the operator role (you are viewer)']);
    expect(await page.locator('#new-transfer button[type=submit]').isDisabled()).toBe(true);
    await shot('19-transfers-viewer');
  });

  it('serves the API reference (Swagger UI from npm assets) at /docs', async () => {
    await page.goto(`${stack.baseUrl}/docs`);
    await page.waitForSelector('.swagger-ui .opblock', { timeout: 15_000 });
    expect(await page.locator('.swagger-ui .opblock').count()).toBeGreaterThan(30);
    expect(await page.locator('.swagger-ui .opblock-tag').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('Transfers')]));
    await shot('20-docs');
  });

  it('ran without a script error, and the only failed requests were the expected ones', async () => {
    expect(browserErrors).toEqual([]);
    const topups = await stack.call('GET', '/v1/topup-policies', undefined, TOKENS.viewer);
    const usage = await stack.call('GET', `/v1/reports/usage?month=${new Date().toISOString().slice(0, 7)}&format=json`, undefined, TOKENS.viewer);
    // The wrong token at sign-in, and the routes this server may not have.
    expect([...new Set(failedRequests)].sort()).toEqual([
      '401 /v1/me', ...(topups.status === 404 ? ['404 /v1/topup-policies'] : []), ...(usage.status === 404 ? ['404 /v1/reports/usage'] : []),
    ].sort());
  });
});
