import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { configSchema, loadConfig } from '@app/config';

/**
 * docker-compose.yml cannot run here (no Docker engine), so this keeps it honest statically:
 * the services exist with health checks, every variable they set is one the configuration
 * schema knows, api and worker set everything the schema cannot default and their values pass
 * validation, URLs point at services of the file, and commands point at existing apps. The
 * README's configuration table is held to the same schema.
 */
const root = join(__dirname, '..');
const compose = parseYaml(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as Compose;
const services = compose.services ?? {};
const schemaKeys = Object.keys(configSchema.shape) as Array<keyof typeof configSchema.shape>;
/** Variables a process cannot start without: no default in the schema. */
const requiredBySchema = schemaKeys.filter((k) => !configSchema.shape[k].safeParse(undefined).success);
const APPS = ['sandbox', 'migrate', 'api', 'worker'];

interface Service {
  image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>;
  healthcheck?: { test?: string[] }; depends_on?: Record<string, { condition?: string }>;
}
interface Compose { services?: Record<string, Service> }

/** Compose's own interpolation, for the forms this file uses: ${NAME:-default} and ${NAME-default}. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(:?-)([^}]*)\}/g, (_m, _name, _op, def: string) => def).replace(/\$\$/g, '$');
}
const env = (name: string) => Object.fromEntries(Object.entries(services[name]?.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));

describe('docker-compose.yml', () => {
  it('has postgres, redis, sandbox, migrate, api and worker', () => {
    expect(Object.keys(services).sort()).toEqual(['api', 'migrate', 'postgres', 'redis', 'sandbox', 'worker']);
  });

  it.each(['postgres', 'redis', 'sandbox', 'api', 'worker'])('%s has a health check', (name) => {
    const test = services[name].healthcheck?.test;
    expect(Array.isArray(test) && ['CMD', 'CMD-SHELL'].includes(test[0]) && test.length > 1).toBe(true);
  });

  it('redis keeps jobs: append-only file and no eviction', () => {
    expect(services.redis.command?.join(' ')).toMatch(/--appendonly yes/);
    expect(services.redis.command?.join(' ')).toMatch(/--maxmemory-policy noeviction/);
  });

  it.each(Object.keys(services))('every variable %s sets is known', (name) => {
    const allowed = (k: string) => (name === 'postgres' ? /^POSTGRES_/.test(k) : name === 'sandbox' ? /^SANDBOX_/.test(k) : (schemaKeys as string[]).includes(k));
    expect(Object.keys(env(name)).filter((k) => !allowed(k))).toEqual([]);
  });

  it('the schema has variables without a default (this test would be empty otherwise)', () => {
    expect(requiredBySchema).toEqual(expect.arrayContaining(['DATABASE_URL', 'SMSPARTNER_API_KEY']));
  });

  it.each([['api', ['API_TOKENS']], ['worker', []]] as const)('%s sets every required variable, with values the schema accepts', (name, alsoRequired) => {
    const vars = env(name);
    expect([...requiredBySchema, ...alsoRequired].filter((k) => !(k in vars))).toEqual([]);
    expect(() => loadConfig(vars, [...alsoRequired])).not.toThrow();
  });

  it('migrate gets the same database as api and worker', () => {
    expect(env('migrate').DATABASE_URL).toBe(env('api').DATABASE_URL);
    expect(env('worker').DATABASE_URL).toBe(env('api').DATABASE_URL);
  });

  it('DATABASE_URL matches the postgres service (host, user, password, database)', () => {
    const url = new URL(env('api').DATABASE_URL);
    const pg = env('postgres');
    expect([url.hostname, decodeURIComponent(url.username), decodeURIComponent(url.password), url.pathname.slice(1)])
      .toEqual(['postgres', pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, pg.POSTGRES_DB]);
  });

  it.each(['api', 'worker'])('%s talks to the redis and sandbox services with the sandbox key', (name) => {
    const vars = env(name);
    expect(new URL(vars.REDIS_URL).hostname).toBe('redis');
    const provider = new URL(vars.SMSPARTNER_BASE_URL);
    expect([provider.hostname, provider.port, provider.pathname]).toEqual(['sandbox', env('sandbox').SANDBOX_PORT, '/v1']);
    expect(vars.SMSPARTNER_API_KEY).toBe(env('sandbox').SANDBOX_API_KEY);
  });

  it('the api health check asks /health/ready on the port it listens on', () => {
    expect(services.api.healthcheck?.test?.join(' ')).toContain(`127.0.0.1:${env('api').PORT}/health/ready`);
  });

  it.each(['api', 'worker'])('%s starts after postgres and redis are healthy and migrations ran', (name) => {
    const deps = services[name].depends_on ?? {};
    expect(deps.postgres?.condition).toBe('service_healthy');
    expect(deps.redis?.condition).toBe('service_healthy');
    expect(deps.migrate?.condition).toBe('service_completed_successfully');
  });

  it.each(APPS)('%s runs a built app of this repository', (name) => {
    const [node, script] = services[name].command ?? [];
    expect(node).toBe('node');
    const app = /^dist\/apps\/([a-z-]+)\/src\/main\.js$/.exec(script ?? '')?.[1];
    const source = `apps/${app}/src/main.ts`;
    expect(app && existsSync(join(root, source)) ? source : `${script} is not built from ${source}`).toBe(source);
    expect(services[name].build ?? services[name].image).toBeTruthy();
  });
});

describe('README.md', () => {
  it('documents exactly the variables of the configuration schema', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]);
    expect([...rows].sort()).toEqual([...schemaKeys].sort());
  });
});

describe('the YAML reader of this test', () => {
  it('reads the subset it supports', () => {
    expect(parseYaml('a:\n  b: "x: y" # note\n  c: [1, "two, three", \'it\'\'s\']\n  d:\n    - e\n    - "f"\n  g: ${X:-0 * * * *}\n')).toEqual({
      a: { b: 'x: y', c: ['1', 'two, three', "it's"], d: ['e', 'f'], g: '${X:-0 * * * *}' },
    });
  });
  it.each(['a: &x 1', 'a: *x', 'a: |\n  text', 'a: {b: 1}', '- a: 1'])('refuses what it does not support: %p', (text) => {
    expect(() => parseYaml(text)).toThrow();
  });
});

/**
 * A YAML reader for the subset docker-compose.yml uses: block mappings, block sequences of
 * scalars, one-line flow sequences, plain/single/double-quoted scalars, comments. Anything
 * else (anchors, aliases, block scalars, flow mappings, sequences of mappings) throws, so the
 * file cannot drift into YAML this reads wrongly. All scalars are strings, as compose treats
 * environment values.
 */
type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

function parseYaml(text: string): Yaml {
  const lines = text.split('\n').map((raw, i) => ({ n: i + 1, indent: raw.search(/\S/), body: stripComment(raw).trim() }))
    .filter((l) => l.indent >= 0 && l.body !== '');
  let pos = 0;
  const fail = (n: number, why: string): never => { throw new Error(`docker-compose.yml line ${n}: ${why}`); };

  function block(indent: number): Yaml {
    const first = lines[pos];
    if (first.body.startsWith('- ') || first.body === '-') {
      const list: Yaml[] = [];
      while (pos < lines.length && lines[pos].indent === indent && lines[pos].body.startsWith('-')) {
        const item = lines[pos].body.slice(1).trim();
        if (/^[^"'[].*?:(\s|$)/.test(item)) fail(lines[pos].n, 'sequences of mappings are not supported');
        list.push(scalar(item, lines[pos].n));
        pos++;
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (pos < lines.length && lines[pos].indent === indent) {
      const { n, body } = lines[pos];
      const m = /^([A-Za-z0-9_.-]+):(?:\s+(.*))?$/.exec(body) ?? fail(n, `expected "key: value", got ${JSON.stringify(body)}`);
      if (m[1] in map) fail(n, `duplicate key ${m[1]}`);
      pos++;
      if (m[2] !== undefined) map[m[1]] = scalar(m[2], n);
      else if (pos < lines.length && lines[pos].indent > indent) map[m[1]] = block(lines[pos].indent);
      else if (pos < lines.length && lines[pos].indent === indent && lines[pos].body.startsWith('- ')) map[m[1]] = block(indent);
      else map[m[1]] = null;
    }
    if (pos < lines.length && lines[pos].indent > indent) fail(lines[pos].n, 'unexpected indentation');
    return map;
  }

  function scalar(s: string, n: number): Yaml {
    if (/^[&*|>{!%@`]/.test(s)) fail(n, `unsupported YAML: ${s}`);
    if (s.startsWith('[')) {
      if (!s.endsWith(']')) fail(n, 'flow sequences must fit on one line');
      const items: Yaml[] = [];
      const re = /\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,\]]+?)\s*(,|$)/y;
      const inner = s.slice(1, -1);
      for (re.lastIndex = 0; re.lastIndex < inner.length;) {
        const m = re.exec(inner) ?? fail(n, `bad flow sequence: ${s}`);
        items.push(scalar(m[1], n));
      }
      return items;
    }
    if (s.startsWith('"')) return s.endsWith('"') && s.length > 1 ? JSON.parse(s) : fail(n, `unterminated string: ${s}`);
    if (s.startsWith("'")) return s.endsWith("'") && s.length > 1 ? s.slice(1, -1).replace(/''/g, "'") : fail(n, `unterminated string: ${s}`);
    return s;
  }

  return lines.length ? block(lines[0].indent) : null;
}

/** Drops a comment: "#" at the start or after a space, outside quoted scalars. */
function stripComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if ((c === '"' || c === "'") && (i === 0 || /[\s[,]/.test(line[i - 1]))) quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}
