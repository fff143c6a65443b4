import { AppProcess } from './support/processes';

describe('invalid configuration stops a process at start, naming the variable', () => {
  it.each(['api', 'worker'] as const)('%s', async (name) => {
    const p = new AppProcess(name, {
      DATABASE_URL: 'not-a-url',
      SMSPARTNER_API_KEY: 'distinctive-secret-key-42',
      API_TOKENS: 'admin:distinctive-token-43',
      PROVIDER_TIMEOUT_MS: 'soon',
    }).start();
    expect(await p.waitExit()).toBe(1);
    const text = p.text();
    expect(text).toMatch(/DATABASE_URL: must be a URL/);
    expect(text).toMatch(/PROVIDER_TIMEOUT_MS: /);
    expect(text).not.toContain('distinctive-secret-key-42');
    expect(text).not.toContain('distinctive-token-43');
  });
});
