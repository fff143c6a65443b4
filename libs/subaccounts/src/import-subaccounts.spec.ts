/**
 * The import reads the whole list through the one pager: an odd entry is skipped and reported,
 * the rest imported. A bare local HTTP peer plays the provider (the sandbox never sends odd entries).
 */
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { LedgerRepository, ObservationsRepository } from '@app/persistence';
import { SmsPartnerClient } from '@app/provider';
import { TransfersRepository } from '@app/transfers';
import { testDatabase, uniqueProviderAccount } from '../../../test/support/db';
import { ImportSubaccountsUseCase, SubaccountsRepository } from './index';

const KEY = 'import-key-000001';
let stub: Server;
let base: string;
const db = testDatabase(4);
const importer = (client: SmsPartnerClient) =>
  new ImportSubaccountsUseCase(db, new LedgerRepository(db), new SubaccountsRepository(db), new TransfersRepository(db), new ObservationsRepository(), client);
const entry = (token: string, balance: unknown) => ({ id: 1, email: `${token}@example.com`, type: 'simple', token, apiKey: 'f00dfacef00dfacef00dfacef00dface', createdAt: '2024-01-01 00:00:00', credits: { balance, currency: 'EUR' } });
const pages: Record<string, unknown[]> = {
  1: [entry('imp-a', '1.500'), entry('imp-null', null), null],
  2: [entry('imp-b', 2)],
};

beforeAll(async () => {
  stub = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    res.writeHead(200, { 'content-type': 'application/json' });
    if (url.pathname === '/v1/me') return void res.end('{"success":true,"code":200,"user":{"username":"u"},"credits":{"balance":"100.000","currency":"EUR"}}');
    const page = url.searchParams.get('page')!;
    res.end(JSON.stringify({ success: true, code: 200, total: 4, nb_per_page: 3, page: Number(page), data: pages[page] ?? [] }));
  });
  await new Promise<void>((r) => stub.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(stub.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  await new Promise<void>((r) => stub.close(() => r()));
  await db.close();
});

it('imports the readable entries, reports the skipped ones with their page, and journals both', async () => {
  const providerAccount = uniqueProviderAccount('imp');
  const client = new SmsPartnerClient({ baseUrl: base, apiKey: KEY, timeoutMs: 2000 });
  const result = await importer(client).execute(providerAccount, 'system:test');
  expect(result).toEqual({
    total: 2, imported: 2, refreshed: 0, openingBalances: 3, mainOpeningBalance: '100.000',
    skipped: [
      { page: 1, index: 1, token: 'imp-null', reason: 'no readable credits.balance (null)' },
      { page: 1, index: 2, reason: 'entry is null, not an object' },
    ],
  });
  const rows = await db.query<{ token: string }>('SELECT token FROM subaccounts WHERE provider_account_id = $1 ORDER BY token', [providerAccount]);
  expect(rows.map((r) => r.token)).toEqual(['imp-a', 'imp-b']);
  const [journal] = await db.query<{ data: { skipped: unknown[] } }>(`SELECT data FROM journal_entries WHERE provider_account_id = $1 AND action = 'subaccounts.imported'`, [providerAccount]);
  expect(journal.data.skipped).toHaveLength(2);
  expect(JSON.stringify(journal.data)).not.toContain('f00dface');
});

it('a refused key fails the import with the operator message, and imports nothing', async () => {
  const providerAccount = uniqueProviderAccount('imp');
  const refusing = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"success":false,"code":10,"message":"Invalid API key."}'); });
  await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
  try {
    const client = new SmsPartnerClient({ baseUrl: `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/v1`, apiKey: KEY, timeoutMs: 2000 });
    await expect(importer(client).execute(providerAccount, 'system:test')).rejects.toMatchObject({
      code: 'provider_rejected',
      message: 'reading the main account: the provider refused (invalid_key): Invalid API key. The provider does not recognise the API key: check SMSPARTNER_API_KEY.',
    });
    expect(await db.query('SELECT 1 FROM subaccounts WHERE provider_account_id = $1', [providerAccount])).toEqual([]);
  } finally {
    await new Promise<void>((r) => refusing.close(() => r()));
  }
});
