import { bearerMatches, learnSecretsFrom, redactSecrets, scrubText, SecretRegistry, secrets } from './redact';
import { isStorableText, unstorableTextPath } from './text';
import { scanJson } from './json-literals';
import { Cursors, pageOf } from './page';

describe('the process-wide secret registry', () => {
  it('learns apiKey values from provider bodies (list entries, create answers) and scrubs them everywhere after', () => {
    const key = `sub-${Math.random().toString(16).slice(2)}abcdef`;
    const created = `new-${Math.random().toString(16).slice(2)}abcdef`;
    expect(scrubText(`key ${key}`)).toBe(`key ${key}`);
    learnSecretsFrom({ success: true, data: [{ token: 't1', apiKey: key, credits: { balance: '1' } }] });
    learnSecretsFrom({ success: true, subaccount: { token: 't2', email: 'x@y', api_key: created } });
    expect(secrets.has(key) && secrets.has(created)).toBe(true);
    expect(scrubText(`IP not allowed for apiKey (sub-account key ${key}) and ${created}`)).toBe('IP not allowed for apiKey (sub-account key [redacted]) and [redacted]');
    expect(redactSecrets({ message: `x${key}y`, nested: [{ [key]: 1, apiKey: 'whatever' }] })).toEqual({ message: 'x[redacted]y', nested: [{ '[redacted]': 1, apiKey: '[redacted]' }] });
  });

  it('removes the longest secret first, ignores values too short to be secrets, and scrubs apiKey= query values', () => {
    const r = new SecretRegistry();
    r.add('abcdefgh', 'abcdefgh-longer', 'abc', undefined, null);
    expect(r.size).toBe(2);
    expect(r.scrub('abcdefgh-longer abcdefgh abc')).toBe('[redacted] [redacted] abc');
    expect(r.scrub('GET /me?apiKey=zzz&page=1')).toBe('GET /me?apiKey=[redacted]&page=1');
    expect(r.scrub('a.b*c')).toBe('a.b*c');
    r.add('a.b*c+d');
    expect(r.scrub('x a.b*c+d y')).toBe('x [redacted] y');
  });

  it('scrubs every one of 10,000 keys (a large sub-account list), adjacent and sharing prefixes, and leaves the rest intact', () => {
    const r = new SecretRegistry();
    const keys = Array.from({ length: 10_000 }, (_, i) => `k3y${String(i).padStart(5, '0')}${'x'.repeat(i % 7)}`);
    r.add(...keys);
    // Every key shares its first six characters with others ("k3y000…"): the longest that starts here wins.
    const text = keys.map((k, i) => (i % 2 ? `${k}|` : `"${k}" `)).join('');
    const scrubbed = r.scrub(text);
    expect(scrubbed).toBe(keys.map((_, i) => (i % 2 ? '[redacted]|' : '"[redacted]" ')).join(''));
    expect(r.scrub(`${keys[42]}${keys[7]}`)).toBe('[redacted][redacted]');
    expect(r.scrub('k3y0004 is not a key, k3y0 neither')).toBe('k3y0004 is not a key, k3y0 neither');
  });

  it('bearerMatches: only the exact token after "Bearer "', () => {
    expect(bearerMatches('Bearer secret-token-1', 'secret-token-1')).toBe(true);
    for (const h of ['Bearer secret-token-12', 'Bearer secret-token-', 'bearer secret-token-1', 'Basic secret-token-1', 'Bearer  secret-token-1', undefined, ['Bearer secret-token-1']]) {
      expect(bearerMatches(h as string, 'secret-token-1')).toBe(false);
    }
  });
});

describe('storable text, duplicate keys, cursors', () => {
  it('refuses NUL and unpaired surrogates, accepts paired ones', () => {
    expect(isStorableText('plain é 🙂')).toBe(true);
    for (const s of ['a\u0000b', '\ud800', 'x\udc00', '\udbff\ud800', '🙂'.slice(0, 1)]) expect(isStorableText(s)).toBe(false);
    expect(unstorableTextPath({ a: [{ b: 'ok' }, { c: 'x\u0000' }] })).toBe('a.1.c');
    expect(unstorableTextPath({ ['k\ud800']: 1 })).toBe(JSON.stringify('k\ud800'));
    expect(unstorableTextPath({ a: 'fine', b: [1, true, null] })).toBeNull();
  });

  it('scanJson names the first key given twice in one object (escaped spellings included), not keys repeated across objects', () => {
    expect(scanJson('{"amount":"-1","amount":"0.016"}').duplicateKey).toBe('amount');
    expect(scanJson('{"a":{"b":1,"\\u0062":2}}').duplicateKey).toBe('a.b');
    expect(scanJson('[{"a":1},{"a":2}]').duplicateKey).toBeNull();
    expect(scanJson('{"a":{"x":1},"b":{"x":2}}').duplicateKey).toBeNull();
    expect([...scanJson('{"a":1.50,"b":[2]}').literals]).toEqual([['a', '1.50'], ['b.0', '2']]);
  });

  it('cursors: only values the API gives out, within Postgres ranges', () => {
    expect(Cursors.sequence.decode('9223372036854775807')).toBe('9223372036854775807');
    for (const bad of ['9223372036854775808', '0', '01', '-1', '1e3', ' 1', '0x10', '']) expect(() => Cursors.sequence.decode(bad)).toThrow(/invalid cursor/);
    const c = Cursors.instantId.encode({ micros: '1764547200000000', id: '0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b' });
    expect(Cursors.instantId.decode(c)).toEqual({ micros: '1764547200000000', id: '0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b' });
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    for (const bad of [b64('253402300800000000|0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b'), b64(`1|${'-'.repeat(36)}`), b64('1|0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b|x'), '!!']) {
      expect(() => Cursors.instantId.decode(bad)).toThrow(/invalid cursor/);
    }
    expect(Cursors.instantId.decode(b64('253402300799999999|0B7F4C52-6F2A-4D8E-9A4B-1D2C3E4F5A6B')).id).toBe('0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6b');
    expect(() => Cursors.uuid.decode('0b7f4c52-6f2a-4d8e-9a4b-1d2c3e4f5a6')).toThrow();
    expect(() => Cursors.token.decode('a b')).toThrow();
  });

  it('pageOf: limit + 1 rows give a page of limit and a cursor on its last row; fewer give no cursor', () => {
    expect(pageOf([1, 2, 3], 2, (r) => `c${r}`)).toEqual({ data: [1, 2], nextCursor: 'c2' });
    expect(pageOf([1, 2], 2, (r) => `c${r}`)).toEqual({ data: [1, 2], nextCursor: null });
    expect(pageOf([], 2, (r: number) => `c${r}`)).toEqual({ data: [], nextCursor: null });
    expect(pageOf([1, 2, 3], 2, (r) => `c${r}`, (r) => r * 10)).toEqual({ data: [10, 20], nextCursor: 'c2' });
  });
});
