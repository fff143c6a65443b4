import { createHmac } from 'node:crypto';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { verifyWebhookSignature } from '@app/webhooks';
import { Stack, startStack, TOKENS, waitFor } from './support/processes';

/** What the local receiver got: every POST, with the status it answered. */
interface Received { headers: IncomingHttpHeaders; raw: string; body: any; answered: number }

/**
 * A webhook receiver on 127.0.0.1: answers 500 to the first `failFirst(type)` POSTs of each
 * event id, then 200. It keeps the raw bodies to check signatures exactly as sent.
 */
async function startReceiver(failFirst: (type: string) => number): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const seen = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      const n = (seen.get(body.id) ?? 0) + 1;
      seen.set(body.id, n);
      const answered = n <= failFirst(body.type) ? 500 : 200;
      received.push({ headers: req.headers, raw, body, answered });
      res.statusCode = answered;
      res.end(answered === 200 ? 'ok' : 'receiver down');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/hooks`,
    received,
    close: () => new Promise((r) => { server.close(() => r()); server.closeAllConnections(); }),
  };
}

describe('signed webhooks end to end', () => {
  const secret = 'whsec-test-0123456789abcdef';
  let stack: Stack;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let token: string;
  const accepted = (type: string) => receiver.received.filter((r) => r.body.type === type && r.answered === 200);

  beforeAll(async () => {
    // A transfer.posted event is refused twice before the receiver takes it.
    receiver = await startReceiver((type) => (type === 'transfer.posted' ? 2 : 0));
    stack = await startStack({
      subaccounts: 2,
      env: {
        WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: secret, WEBHOOK_RETRY_BASE_MS: '100', WEBHOOK_MAX_ATTEMPTS: '5',
        RECONCILE_IN_DOUBT_GRACE_MS: '0', RECONCILE_CRON: '0 0 1 1 *', LOG_LEVEL: 'info',
      },
    });
    expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin)).status).toBe(200);
    [token] = stack.tokens();
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  async function transferUntil(status: string, direction: 'add' | 'remove' = 'add', amount = '10') {
    const created = await stack.call('POST', '/v1/transfers', { subaccount: token, direction, amount }, TOKENS.operator);
    expect(created.status).toBe(202);
    const id = created.json.id as string;
    await waitFor(async () => (await stack.call('GET', `/v1/transfers/${id}`, undefined, TOKENS.viewer)).json.status === status, 15_000, `transfer ${id} ${status}`);
    return id;
  }

  it('a posted transfer: the event is refused twice, then accepted once, with attempts = 3 in the delivery log', async () => {
    const id = await transferUntil('posted');
    await waitFor(() => accepted('transfer.posted').some((r) => r.body.data.transfer.id === id), 20_000, 'the transfer.posted event to be accepted');
    const tries = receiver.received.filter((r) => r.body.type === 'transfer.posted' && r.body.data.transfer.id === id);
    expect(tries.map((r) => r.answered)).toEqual([500, 500, 200]);
    // The same event (id and bytes) on every attempt, so a receiver can de-duplicate.
    expect(new Set(tries.map((r) => r.body.id)).size).toBe(1);
    expect(new Set(tries.map((r) => r.headers['x-credit-ledger-event-id'])).size).toBe(1);
    expect(tries[0].body).toMatchObject({ type: 'transfer.posted', providerAccount: stack.providerAccount, data: { previousStatus: 'executing', transfer: { id, subaccount: token, direction: 'add', amount: '10.000', status: 'posted' } } });

    await waitFor(async () => (await stack.call('GET', `/v1/webhook-deliveries?event=transfer.posted&entity=${id}`, undefined, TOKENS.viewer)).json.data[0]?.status === 'delivered', 5_000, 'the log to say delivered');
    const log = await stack.call('GET', `/v1/webhook-deliveries?event=transfer.posted&entity=${id}`, undefined, TOKENS.viewer);
    expect(log.status).toBe(200);
    expect(log.json.data).toHaveLength(1);
    expect(log.json.data[0]).toMatchObject({ id: tries[0].body.id, event: 'transfer.posted', status: 'delivered', attempts: 3, lastStatusCode: 200, lastError: null, entity: { type: 'transfer', id } });
    expect(Date.parse(log.json.data[0].deliveredAt)).toBeGreaterThan(0);
  });

  it('an in-doubt transfer and its resolution each emit an event', async () => {
    stack.sandbox.faults.add({ route: 'add', fault: 'apply_then_drop', count: 1 });
    const id = await transferUntil('in_doubt');
    const metrics = (await stack.call('GET', '/metrics', undefined, null)).text;
    expect(metrics).toContain(`credit_ledger_in_doubt_transfers{provider_account="${stack.providerAccount}"} 1`);
    const resolved = await stack.call('POST', `/v1/transfers/${id}/resolve`, { outcome: 'applied', reason: 'provider log shows the credit' }, TOKENS.operator);
    expect(resolved.status).toBe(200);
    await waitFor(() => accepted('transfer.resolved_applied').some((r) => r.body.data.transfer.id === id), 15_000, 'transfer.resolved_applied');
    const inDoubt = accepted('transfer.in_doubt').find((r) => r.body.data.transfer.id === id)!;
    expect(inDoubt.body.data).toMatchObject({ previousStatus: 'executing', transfer: { status: 'in_doubt', resolution: null } });
    const res = accepted('transfer.resolved_applied').find((r) => r.body.data.transfer.id === id)!;
    expect(res.body.data).toMatchObject({ previousStatus: 'in_doubt', transfer: { status: 'posted', resolution: { outcome: 'applied', reason: 'provider log shows the credit' } } });
    // Not also a plain transfer.posted: one event per state change.
    expect(receiver.received.filter((r) => r.body.type === 'transfer.posted' && r.body.data.transfer.id === id)).toEqual([]);
    // Accepted at the first try: attempts = 1 (recorded just after the receiver answered).
    const entityLog = async () => (await stack.call('GET', `/v1/webhook-deliveries?entity=${id}`, undefined, TOKENS.viewer)).json.data;
    await waitFor(async () => (await entityLog()).every((d: any) => d.status === 'delivered'), 5_000, 'both delivered in the log');
    const log = { json: { data: await entityLog() } };
    expect(log.json.data.map((d: any) => [d.event, d.status, d.attempts])).toEqual([
      ['transfer.resolved_applied', 'delivered', 1], ['transfer.in_doubt', 'delivered', 1],
    ]);
  });

  it('a transfer the provider refuses emits transfer.failed', async () => {
    stack.sandbox.faults.add({ route: 'remove', fault: 'error_code', code: 9, message: 'refused by the test', count: 1 });
    const id = await transferUntil('failed', 'remove', '1');
    await waitFor(() => accepted('transfer.failed').some((r) => r.body.data.transfer.id === id), 15_000, 'transfer.failed');
    const ev = accepted('transfer.failed').find((r) => r.body.data.transfer.id === id)!;
    expect(ev.body.data).toMatchObject({ previousStatus: 'executing', transfer: { status: 'failed', direction: 'remove', amount: '1.000', provider: { code: 9, message: 'refused by the test' } } });
  });

  it('a reconciliation run emits reconciliation.completed with its summary, drifted accounts and drift total', async () => {
    stack.sandbox.state.usage({ token }, '2.5');
    const started = await stack.call('POST', '/v1/reconciliations', undefined, TOKENS.operator, { 'x-request-id': 'req-webhook-recon-1' });
    expect(started.status).toBe(202);
    await waitFor(() => accepted('reconciliation.completed').some((r) => r.body.data.run.id === started.json.id), 20_000, 'reconciliation.completed');
    const ev = accepted('reconciliation.completed').find((r) => r.body.data.run.id === started.json.id)!;
    expect(ev.body.data.run).toMatchObject({ id: started.json.id, status: 'completed', trigger: 'manual', error: null, summary: { drifted: 1 } });
    expect(ev.body.data.drifted).toEqual([expect.objectContaining({ account: `sub:${token}`, drift: '-2.500' })]);
    expect(ev.body.data.driftTotal).toBe('-2.500');
    // The drift warning the use case logged in the background of that request carries its id.
    await waitFor(() => stack.api.text().includes('reconciliation drift'), 5_000, 'the drift log line');
    const line = stack.api.text().split('\n').filter((l) => l.includes('"reconciliation drift"')).map((l) => JSON.parse(l))[0];
    expect(line.reqId).toBe('req-webhook-recon-1');
  });

  it('every POST is signed: HMAC-SHA256 of "<timestamp>.<body>" with the secret, verifiable by a receiver', () => {
    // posted ×3, in_doubt, resolved_applied, failed, reconciliation.completed
    expect(receiver.received.length).toBeGreaterThanOrEqual(7);
    for (const r of receiver.received) {
      const ts = r.headers['x-credit-ledger-timestamp'] as string;
      const sig = r.headers['x-credit-ledger-signature'] as string;
      expect(sig).toBe(`sha256=${createHmac('sha256', secret).update(`${ts}.${r.raw}`).digest('hex')}`);
      expect(verifyWebhookSignature(secret, { timestamp: ts, signature: sig }, r.raw)).toBe(true);
      expect(verifyWebhookSignature('another-secret-0123456789', { timestamp: ts, signature: sig }, r.raw)).toBe(false);
      expect(verifyWebhookSignature(secret, { timestamp: ts, signature: sig }, r.raw.replace('"type"', '"type" '))).toBe(false);
      expect(r.headers['x-credit-ledger-event-id']).toBe(r.body.id);
      expect(r.headers['content-type']).toBe('application/json');
    }
  });

  it('event ids are unique uuids and each event was accepted exactly once', async () => {
    const ok = receiver.received.filter((r) => r.answered === 200);
    const ids = ok.map((r) => r.body.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const rows = await stack.db.query<{ n: number; distinct_ids: number }>('SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct_ids FROM outbox_events WHERE provider_account_id = $1', [stack.providerAccount]);
    expect(rows[0].n).toBe(rows[0].distinct_ids);
    expect(rows[0].n).toBe(ids.length);
  });

  it('the delivery log: filters, paging, roles', async () => {
    const all = await stack.call('GET', '/v1/webhook-deliveries?limit=2', undefined, TOKENS.viewer);
    expect(all.status).toBe(200);
    expect(all.json.data).toHaveLength(2);
    const next = await stack.call('GET', `/v1/webhook-deliveries?limit=2&cursor=${all.json.nextCursor}`, undefined, TOKENS.viewer);
    expect(next.json.data[0].sequence).toBeLessThan(all.json.data[1].sequence);
    const delivered = await stack.call('GET', '/v1/webhook-deliveries?status=delivered&limit=500', undefined, TOKENS.viewer);
    expect(delivered.json.data.every((d: any) => d.status === 'delivered')).toBe(true);
    expect((await stack.call('GET', '/v1/webhook-deliveries?status=pending', undefined, TOKENS.viewer)).json.data).toEqual([]);
    expect((await stack.call('GET', '/v1/webhook-deliveries?status=lost', undefined, TOKENS.viewer)).status).toBe(400);
    expect((await stack.call('GET', '/v1/webhook-deliveries', undefined, null)).status).toBe(401);
    const one = delivered.json.data[0];
    const again = await stack.call('POST', `/v1/webhook-deliveries/${one.id}/redeliver`, undefined, TOKENS.operator);
    expect([again.status, again.json.error.code]).toEqual([409, 'invalid_state']);
    expect((await stack.call('POST', `/v1/webhook-deliveries/${one.id}/redeliver`, undefined, TOKENS.viewer)).status).toBe(403);
  });

  it('worker log lines of a delivery job carry the job id; the secret is never logged', () => {
    const lines = stack.workers[0].text().split('\n').filter((l) => l.includes('webhook delivery failed; will retry')).map((l) => JSON.parse(l));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const l of lines) expect(l).toMatchObject({ queue: 'webhooks', job: 'deliver-webhook', jobId: `w-${l.eventId}` });
    expect(stack.workers[0].text()).not.toContain(secret);
    expect(stack.api.text()).not.toContain(secret);
  });
});

describe('a failed event', () => {
  it('is marked failed after WEBHOOK_MAX_ATTEMPTS and delivered again (same id) after redeliver', async () => {
    let down = true;
    const receiver = await startReceiver(() => (down ? 1_000 : 0));
    const stack = await startStack({ subaccounts: 1, env: { WEBHOOK_URL: receiver.url, WEBHOOK_SECRET: 'whsec-second-0123456789', WEBHOOK_RETRY_BASE_MS: '50', WEBHOOK_MAX_ATTEMPTS: '2' } });
    try {
      expect((await stack.call('POST', '/v1/subaccounts/import', undefined, TOKENS.admin)).status).toBe(200);
      const created = await stack.call('POST', '/v1/transfers', { subaccount: stack.tokens()[0], direction: 'add', amount: '1' }, TOKENS.operator);
      const id = created.json.id as string;
      const log = async () => (await stack.call('GET', `/v1/webhook-deliveries?entity=${id}`, undefined, TOKENS.viewer)).json.data[0];
      await waitFor(async () => (await log())?.status === 'failed', 15_000, 'the event to fail');
      expect(await log()).toMatchObject({ status: 'failed', attempts: 2, lastStatusCode: 500, lastError: 'HTTP 500: receiver down', deliveredAt: null });
      const m = await stack.call('GET', '/metrics', undefined, null);
      expect(m.text).toMatch(/^credit_ledger_webhook_events\{status="failed"\} 1$/m);
      down = false;
      const redo = await stack.call('POST', `/v1/webhook-deliveries/${(await log()).id}/redeliver`, undefined, TOKENS.operator);
      expect([redo.status, redo.json.status]).toEqual([200, 'pending']);
      await waitFor(async () => (await log())?.status === 'delivered', 15_000, 'the event to be delivered');
      expect(await log()).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200 });
      const tries = receiver.received.filter((r) => r.body.data.transfer?.id === id);
      expect(new Set(tries.map((r) => r.body.id)).size).toBe(1);
      expect(tries.map((r) => r.answered)).toEqual([500, 500, 200]);
    } finally {
      await stack.close();
      await receiver.close();
    }
  });
});
