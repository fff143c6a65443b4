/**
 * Contract test: the provider's own published request samples (PHP, Python, NodeJS, cURL,
 * VB.net) replayed byte for byte against the sandbox over a raw socket, and the answers checked
 * against the docs. The bytes were captured once (test/fixtures/provider-samples/README.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSandboxServer, rawRequest, SandboxServer } from '@app/sandbox';

const DIR = join(__dirname, 'fixtures', 'provider-samples');
interface Sample {
  name: string; file: string; call: string; sample: string; apiKey: string;
  expect: { success: boolean; code: number; fields?: Record<string, string> };
  applied?: { route: string; amount: string };
}
const manifest = JSON.parse(readFileSync(join(DIR, 'samples.json'), 'utf8')) as { subaccountToken: string; samples: Sample[] };

let s: SandboxServer;
beforeAll(async () => { s = await createSandboxServer({ port: 0, seed: { accounts: [{ apiKey: 'unused', balance: '0' }] } }); });
afterAll(async () => s.close());

it('covers every language of every page, and every fixture file is listed', () => {
  expect(manifest.samples.length).toBe(20);
  for (const call of ['add', 'remove', 'create', 'me']) {
    const langs = manifest.samples.filter((x) => x.call === call).map((x) => x.sample);
    expect(new Set(langs)).toEqual(new Set(call === 'create' ? ['PHP', 'cURL', 'Python', 'NodeJS'] : ['PHP', 'cURL', 'Python', 'NodeJS', 'VB.net']));
  }
});

describe.each([200, 400])('published samples replayed byte for byte (errors with HTTP %i)', (errorStatus) => {
  it.each(manifest.samples.map((x) => [x.name, x] as const))('%s', async (_name, sample) => {
    const bytes = readFileSync(join(DIR, sample.file));
    // The sample's own placeholder key is a real account here, and its sub-account identifier a real token.
    s.state.reset({
      seed: 1,
      accounts: [{ apiKey: sample.apiKey, username: 'parent@example.com', balance: '1000', subaccounts: [{ token: manifest.subaccountToken, email: 'sub@example.com', balance: '200' }] }],
    });
    await fetch(`${s.url}/__sandbox/config`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ errorHttpStatus: errorStatus }) });

    const a = await rawRequest(Number(new URL(s.url).port), bytes);
    expect(a.headers['content-type']).toMatch(/^application\/json; charset=utf-8$/);
    expect(a.json).toMatchObject({ success: sample.expect.success, code: sample.expect.code });
    expect(a.status).toBe(sample.expect.success ? 200 : errorStatus);
    for (const [field, type] of Object.entries(sample.expect.fields ?? {})) expect(typeof a.json[field]).toBe(type);
    if (!sample.expect.success) expect(typeof a.json.message).toBe('string');

    // What the docs say each call does, checked on the sandbox's state.
    const main = s.state.getMain(sample.apiKey);
    const sub = s.state.getSub(manifest.subaccountToken)!;
    if (sample.applied) {
      expect(s.state.log).toEqual([expect.objectContaining({ route: sample.applied.route, amount: sample.applied.amount })]);
    } else {
      expect(s.state.log).toEqual([]);
    }
    if (sample.call === 'add' || sample.call === 'remove') {
      if (sample.expect.success) {
        // credit = main balance after, subaccountCredit = sub-account balance after, as JSON numbers.
        expect(a.text).toContain(`"credit":${Number(main!.balance.toFixed())}`);
        expect(a.text).toContain(`"subaccountCredit":${Number(sub.balance.toFixed())}`);
        expect(main!.balance.plus(sub.balance).toFixed()).toBe('1200.000');
      }
    }
    if (sample.call === 'create' && sample.expect.success) {
      expect(a.json.subaccount).toEqual({ email: 'aaaa@bbb.ccc', token: expect.any(String) });
      expect(a.json.parent_email).toBe('parent@example.com');
      const created = s.state.getSub(a.json.subaccount.token)!;
      expect(created).toMatchObject({ type: 'advanced', isBuyer: false, firstname: 'prenom', lastname: 'nom' });
      expect(created.balance.toFixed()).toBe('10.000');
    }
    if (sample.call === 'me' && sample.expect.success) {
      expect(a.json.user).toEqual({ username: 'parent@example.com', firstname: expect.any(String), lastname: expect.any(String) });
      expect(a.json.credits).toMatchObject({ solde: '1000.000', balance: '1000.000', currency: 'EUR' });
    }
  });
});
