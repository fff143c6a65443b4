import { ConfigError, loadConfig } from './config';

const base = { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x', SMSPARTNER_API_KEY: 'key-123456' };

function problems(env: Record<string, string>, required: Parameters<typeof loadConfig>[1] = []): string[] {
  try {
    loadConfig(env, required);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      REDIS_URL: 'redis://127.0.0.1:6379', SMSPARTNER_BASE_URL: 'https://api.smspartner.fr/v1', PORT: 3000,
      RECONCILE_CRON: '0 * * * *', TOPUP_TIMEZONE: 'Europe/Paris', RECONCILE_TOLERANCE: '0.001', RECONCILE_AUTO_BOOK_USAGE: false,
    });
  });

  it('names each missing or invalid variable', () => {
    expect(problems({})).toEqual(expect.arrayContaining([expect.stringMatching(/^DATABASE_URL: is required/), expect.stringMatching(/^SMSPARTNER_API_KEY: is required/)]));
    expect(problems({ ...base, PORT: 'eighty' })).toEqual([expect.stringMatching(/^PORT: /)]);
    expect(problems({ ...base, REDIS_URL: 'localhost:6379' })).toEqual([expect.stringMatching(/^REDIS_URL: must be a URL/)]);
    expect(problems({ ...base, TOPUP_TIMEZONE: 'Mars/Olympus' })).toEqual(['TOPUP_TIMEZONE: must be an IANA time zone']);
    expect(problems({ ...base, RECONCILE_CRON: 'every hour' })).toEqual(['RECONCILE_CRON: must be a cron expression']);
    const leaseProblem = 'EXECUTION_LEASE_MS: must be greater than twice PROVIDER_TIMEOUT_MS (a claimed transfer may wait for one call before its own)';
    expect(problems({ ...base, PROVIDER_TIMEOUT_MS: '5000', EXECUTION_LEASE_MS: '4000' })).toEqual([leaseProblem]);
    expect(problems({ ...base, PROVIDER_TIMEOUT_MS: '5000', EXECUTION_LEASE_MS: '10000' })).toEqual([leaseProblem]);
    expect(problems({ ...base, PROVIDER_TIMEOUT_MS: '5000', EXECUTION_LEASE_MS: '10001' })).toEqual([]);
    expect(problems(base, ['API_TOKENS'])).toEqual(['API_TOKENS: is required']);
  });

  it('parses API_TOKENS and never echoes a token in an error', () => {
    expect(loadConfig({ ...base, API_TOKENS: 'admin:aaaaaaaaaa, viewer:bbbbbbbbbb' }).API_TOKENS).toEqual([
      { role: 'admin', token: 'aaaaaaaaaa', name: 'admin#1' },
      { role: 'viewer', token: 'bbbbbbbbbb', name: 'viewer#2' },
    ]);
    const p = problems({ ...base, API_TOKENS: 'root:supersecret-value' });
    expect(p).toEqual([expect.stringMatching(/^API_TOKENS: entry 1 must be role:token/)]);
    expect(p.join()).not.toContain('supersecret-value');
    expect(problems({ ...base, SMSPARTNER_API_KEY: '' })).toEqual(['SMSPARTNER_API_KEY: is required']);
  });

  it('in-doubt evidence and usage accounting: on by default, on|off switches, the spending policy validated', () => {
    expect(loadConfig(base)).toMatchObject({
      IN_DOUBT_AUTO_SETTLE: true, IN_DOUBT_BARRIER: 'close', USAGE_AUTO_BOOK: true, IN_DOUBT_BARRIER_MAX_MS: 60_000, IN_DOUBT_PROBE_DELAY_MS: 1_000,
      IN_DOUBT_FRESH_READING_MS: 5_000, IN_DOUBT_REREAD_MS: 5_000, IN_DOUBT_REREAD_FOR_MS: 300_000,
      IN_DOUBT_SPEND_FACTOR: '3', IN_DOUBT_SPEND_FLOOR: '2.000', IN_DOUBT_MIN_HISTORY_WINDOWS: 3, RECONCILE_IN_DOUBT_GRACE_MS: 30_000,
    });
    expect(loadConfig({ ...base, IN_DOUBT_BARRIER: 'on', USAGE_AUTO_BOOK: 'off', IN_DOUBT_AUTO_SETTLE: 'on' })).toMatchObject({ IN_DOUBT_BARRIER: 'on', USAGE_AUTO_BOOK: false, IN_DOUBT_AUTO_SETTLE: true });
    expect(problems({ ...base, IN_DOUBT_BARRIER: 'maybe' })).toEqual([expect.stringMatching(/^IN_DOUBT_BARRIER: /)]);
    expect(problems({ ...base, IN_DOUBT_SPEND_FACTOR: '0.5' })).toEqual(['IN_DOUBT_SPEND_FACTOR: must be at least 1']);
    expect(problems({ ...base, IN_DOUBT_SPEND_FLOOR: '-1' })).toEqual([expect.stringMatching(/^IN_DOUBT_SPEND_FLOOR: /)]);
  });
});
