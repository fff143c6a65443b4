import { generateKeyPairSync } from 'node:crypto';
import { ConfigError, journalSigningKey, loadConfig } from './config';

const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x', SMSPARTNER_API_KEY: 'key-123456' };
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
};

describe('configuration: bind addresses, metrics token, journal signing key', () => {
  it('listens on loopback by default; any address or host name can be set', () => {
    expect(loadConfig(base)).toMatchObject({ HOST: '127.0.0.1', WORKER_METRICS_HOST: '127.0.0.1', JOURNAL_DIGEST_CRON: '*/15 * * * *' });
    expect(loadConfig({ ...base, HOST: '0.0.0.0', WORKER_METRICS_HOST: '::' })).toMatchObject({ HOST: '0.0.0.0', WORKER_METRICS_HOST: '::' });
    expect(problems({ ...base, HOST: 'http://x' })).toEqual([expect.stringMatching(/^HOST: must be an IP address or a host name/)]);
  });

  it('METRICS_TOKEN: optional, 16+ printable characters, never echoed', () => {
    expect(loadConfig(base).METRICS_TOKEN).toBeUndefined();
    expect(loadConfig({ ...base, METRICS_TOKEN: 'm'.repeat(16) }).METRICS_TOKEN).toBe('m'.repeat(16));
    const p = problems({ ...base, METRICS_TOKEN: 'short-secret' });
    expect(p).toEqual(['METRICS_TOKEN: must be at least 16 characters']);
    expect(problems({ ...base, METRICS_TOKEN: 'has a space in it!!' })).toEqual([expect.stringMatching(/^METRICS_TOKEN: printable ASCII/)]);
  });

  it('JOURNAL_SIGNING_KEY: an Ed25519 PKCS#8 key, PEM (also with \\n escapes) or base64 DER; anything else is refused without echo', () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = String(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const der = (privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer).toString('base64');
    for (const value of [pem, pem.replace(/\n/g, '\\n'), der]) {
      expect(loadConfig({ ...base, JOURNAL_SIGNING_KEY: value }).JOURNAL_SIGNING_KEY).toBe(value);
      expect(journalSigningKey(value).asymmetricKeyType).toBe('ed25519');
    }
    const rsa = String(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    for (const bad of [rsa, 'not-a-key', der.slice(0, 20)]) {
      const p = problems({ ...base, JOURNAL_SIGNING_KEY: bad });
      expect(p).toEqual(['JOURNAL_SIGNING_KEY: must be an Ed25519 private key (PKCS#8, PEM or base64 DER)']);
    }
    expect(problems({ ...base, JOURNAL_DIGEST_CRON: 'often' })).toEqual(['JOURNAL_DIGEST_CRON: must be a cron expression']);
  });
});
