import { Stack, startStack, TOKENS, waitFor } from './support/processes';

/**
 * The BullMQ dashboard at /admin/queues is a Fastify plugin outside Nest's auth guard: these
 * checks prove its own guard lets admins only in, by header, by login form or `?token=`
 * traded for a cookie, and that no token reaches the logs.
 */
describe('bull-board at /admin/queues', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack({ worker: false, env: { LOG_LEVEL: 'info' } });
  });
  afterAll(async () => { await stack?.close(); });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${stack.baseUrl}${path}`, { headers, redirect: 'manual' });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const sessionOf = (res: Response) => /cl_admin_session=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1];

  it.each(['/admin/queues', '/admin/queues/api/queues', '/admin/queues/queue/transfers'])('%s: 401 without a token, 401 with a wrong one, 403 for viewer and operator', async (path) => {
    expect((await get(path)).status).toBe(401);
    expect((await get(path, bearer('not-a-real-token-123'))).status).toBe(401);
    expect((await get(path, bearer(TOKENS.viewer))).status).toBe(403);
    expect((await get(path, bearer(TOKENS.operator))).status).toBe(403);
    expect((await get(path, { cookie: 'cl_admin_session=9999999999.0.' + 'a'.repeat(64) })).status).toBe(401);
  });

  it('200 for an admin token: the UI page and the queues of the application', async () => {
    const page = await get('/admin/queues', bearer(TOKENS.admin));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    const api = await get('/admin/queues/api/queues', bearer(TOKENS.admin));
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name).sort();
    expect(names).toEqual(expect.arrayContaining(['transfers', 'webhooks']));
  });

  it('a browser without a session gets the login form (401); the form trades an admin token for a cookie', async () => {
    const form = await get('/admin/queues', { accept: 'text/html' });
    expect(form.status).toBe(401);
    expect(await form.text()).toContain('action="/admin/queues/login"');

    const post = (token: string) => fetch(`${stack.baseUrl}/admin/queues/login`, {
      method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ token }).toString(),
    });
    expect((await post(TOKENS.viewer)).status).toBe(403);
    expect((await post('wrong-token-12345')).status).toBe(401);
    const ok = await post(TOKENS.admin);
    expect([ok.status, ok.headers.get('location')]).toEqual([303, '/admin/queues']);
    const cookie = ok.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(TOKENS.admin);
    const session = sessionOf(ok)!;
    expect((await get('/admin/queues/api/queues', { cookie: `cl_admin_session=${session}` })).status).toBe(200);
    // A tampered session is refused.
    const tampered = session.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    expect((await get('/admin/queues/api/queues', { cookie: `cl_admin_session=${tampered}` })).status).toBe(401);
    // Logging out clears it.
    expect(sessionOf(await get('/admin/queues/logout'))).toBe('');
  });

  it('?token= once: redirected to the same page without it, with a session cookie', async () => {
    const res = await get(`/admin/queues/queue/transfers?token=${TOKENS.admin}&status=failed`);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/admin/queues/queue/transfers?status=failed');
    const session = sessionOf(res)!;
    expect((await get('/admin/queues/queue/transfers', { cookie: `cl_admin_session=${session}` })).status).toBe(200);
    expect((await get(`/admin/queues?token=${TOKENS.operator}`)).status).toBe(403);
  });

  it('the /v1 API does not accept the dashboard session instead of a token', async () => {
    const res = await get(`/admin/queues?token=${TOKENS.admin}`);
    const session = sessionOf(res)!;
    expect((await stack.call('GET', '/v1/transfers', undefined, session)).status).toBe(401);
  });

  it('/metrics: queue depth and the age of the oldest waiting job per queue, in-doubt count (no worker runs here)', async () => {
    expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin)).status).toBe(200);
    const t = await stack.call('POST', '/v1/transfers', { subaccount: stack.tokens()[0], direction: 'add', amount: '1' }, TOKENS.operator);
    expect(t.status).toBe(202);
    await new Promise((r) => setTimeout(r, 1_100));
    const m = (await stack.call('GET', '/metrics', undefined, null)).text;
    expect(m).toMatch(/^credit_ledger_queue_jobs\{queue="transfers",state="waiting"\} 1$/m);
    expect(m).toMatch(/^credit_ledger_queue_jobs\{queue="webhooks",state="waiting"\} 0$/m);
    const age = Number(/^credit_ledger_queue_oldest_waiting_job_age_seconds\{queue="transfers"\} (\S+)$/m.exec(m)?.[1]);
    expect(age).toBeGreaterThanOrEqual(1);
    expect(m).toMatch(/^credit_ledger_queue_oldest_waiting_job_age_seconds\{queue="webhooks"\} 0$/m);
    expect(m).toContain(`credit_ledger_in_doubt_transfers{provider_account="${stack.providerAccount}"} 0`);
    expect(m).toContain(`credit_ledger_transfers{provider_account="${stack.providerAccount}",status="pending"} 1`);
  });

  it('request logs: JSON, with the request id, and no token in them', async () => {
    await get('/admin/queues', { ...bearer(TOKENS.admin), 'x-request-id': 'req-bull-board-1' });
    const mine = () => stack.api.text().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((l) => l.reqId === 'req-bull-board-1');
    // "request completed" is written just after the response.
    await waitFor(() => mine().some((l) => l.msg === 'request completed'), 3_000, 'the request completed line');
    expect(mine().map((l) => l.msg)).toEqual(expect.arrayContaining(['incoming request', 'request completed']));
    const text = stack.api.text();
    for (const t of Object.values(TOKENS)) expect(text).not.toContain(t);
    expect(text).toContain('token=[redacted]');
  });
});
