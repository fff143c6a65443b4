#!/usr/bin/env node
import '../../../libs/common/src/aliases';
import { createWriteStream, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ensureDatabase, migrate } from '@app/persistence';

/**
 * credit-ledger: the command line for scripts and cron jobs. It talks to the HTTP API
 * (CREDIT_LEDGER_URL, CREDIT_LEDGER_TOKEN), except `migrate`, which needs DATABASE_URL.
 * Exit codes: 0 ok, 1 error, 2 drift found / transfer not posted / audit chain broken.
 */
const HELP = `credit-ledger <command> [options]

Commands:
  migrate                         apply database migrations (DATABASE_URL; --create creates the database)
  import                          import or refresh sub-accounts from the provider
  transfer --subaccount S --direction add|remove --amount A [--reference R] [--idempotency-key K] [--no-wait]
                                  record a transfer and wait for its final state (exit 2 unless posted)
  reconcile [--no-wait]           run a reconciliation; exit 2 when drift is found, 1 when the run failed
  batch --file FILE.json          record many transfers (a JSON array of {subaccount, direction, amount, reference?, idempotencyKey?}),
                                  sent in chunks of --chunk (default 1000) with progress; exit 2 if any item was refused
  export journal|statement|report --out FILE [--format csv|jsonl|json] [--account CODE] [--run ID] [--from ISO] [--to ISO]
  verify                          verify the journal hash chain (exit 2 when broken)

Options:
  --json                          machine-readable output on stdout
  --timeout SECONDS               how long to wait for a final state (default 60)
  --help                          this text

Environment:
  CREDIT_LEDGER_URL   API base URL (default http://127.0.0.1:3000)
  CREDIT_LEDGER_TOKEN bearer token (operator for transfer/reconcile, admin for import)
  DATABASE_URL        for migrate
`;

type Flags = Record<string, string | boolean>;

export function parseArgs(argv: string[]): { command?: string; positional: string[]; flags: Flags } {
  const flags: Flags = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const name = a.slice(2);
      if (name.startsWith('no-')) flags[name.slice(3)] = false;
      else if (i + 1 < argv.length && !argv[i + 1].startsWith('--') && !['json', 'help', 'create'].includes(name)) flags[name] = argv[++i];
      else flags[name] = true;
    } else positional.push(a);
  }
  return { command: positional.shift(), positional, flags };
}

class CliError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function api() {
  const base = (process.env.CREDIT_LEDGER_URL ?? 'http://127.0.0.1:3000').replace(/\/+$/, '');
  const token = process.env.CREDIT_LEDGER_TOKEN;
  return async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      throw new CliError(`cannot reach ${base}: ${(err as Error & { cause?: Error }).cause?.message ?? (err as Error).message}`);
    }
    if (res.status >= 400) {
      const text = await res.text();
      let msg = text;
      try { msg = `${JSON.parse(text).error.code}: ${JSON.parse(text).error.message}`; } catch { /* not JSON */ }
      throw new CliError(`${method} ${path} → ${res.status} ${msg}`);
    }
    return res;
  };
}

function required(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || !v) throw new CliError(`--${name} is required (see --help)`);
  return v;
}

function progress(label: string): (n: number) => void {
  if (!process.stderr.isTTY) return () => undefined;
  let last = 0;
  return (n) => {
    const now = Date.now();
    if (now - last < 100) return;
    last = now;
    process.stderr.write(`\r${label} ${n.toLocaleString('en')} bytes`);
  };
}

async function run(argv: string[]): Promise<number> {
  const { command, positional, flags } = parseArgs(argv);
  const json = flags.json === true;
  const out = (human: string, data: unknown) => process.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`);
  const timeoutMs = Number(flags.timeout ?? 60) * 1000;
  if (!command || flags.help) {
    process.stdout.write(HELP);
    return command || flags.help ? 0 : 1;
  }
  const call = api();
  // API answers are plain JSON documents; the CLI only reads fields the contract names.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const callJson = async (method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any> => (await call(method, path, body, headers)).json();
  switch (command) {
    case 'migrate': {
      const url = process.env.DATABASE_URL;
      if (!url) throw new CliError('DATABASE_URL is required');
      if (flags.create) await ensureDatabase(url);
      const r = await migrate(url);
      out(r.applied.length ? `applied: ${r.applied.join(', ')}` : `up to date (${r.alreadyApplied} migrations)`, r);
      return 0;
    }
    case 'import': {
      const r = await callJson('POST', '/v1/subaccounts/import');
      out(`sub-accounts: ${r.total} (${r.imported} new, ${r.refreshed} refreshed), opening balances booked: ${r.openingBalances}`, r);
      return 0;
    }
    case 'transfer': {
      const body: Record<string, unknown> = { subaccount: required(flags, 'subaccount'), direction: required(flags, 'direction'), amount: required(flags, 'amount') };
      if (typeof flags.reference === 'string') body.reference = flags.reference;
      const headers: Record<string, string> = typeof flags['idempotency-key'] === 'string' ? { 'idempotency-key': flags['idempotency-key'] } : {};
      let t = await callJson('POST', '/v1/transfers', body, headers);
      const end = Date.now() + timeoutMs;
      while (flags.wait !== false && ['pending', 'executing'].includes(t.status) && Date.now() < end) {
        await sleep(100);
        t = await callJson('GET', `/v1/transfers/${t.id}`);
      }
      out(`transfer ${t.id}: ${t.status}${t.failureReason ? ` (${t.failureReason})` : ''}`, t);
      return flags.wait === false || t.status === 'posted' ? 0 : 2;
    }
    case 'reconcile': {
      let r = await callJson('POST', '/v1/reconciliations');
      const end = Date.now() + timeoutMs;
      while (flags.wait !== false && r.status === 'running' && Date.now() < end) {
        await sleep(200);
        r = await callJson('GET', `/v1/reconciliations/${r.id}`);
      }
      if (flags.wait === false) { out(`reconciliation ${r.id}: ${r.status}`, r); return 0; }
      if (r.status === 'running') throw new CliError(`reconciliation ${r.id} still running after ${timeoutMs / 1000}s`);
      const s = r.summary;
      out(`reconciliation ${r.id}: ${r.status}${r.error ? ` (${r.error})` : ''} — ${s.accounts} accounts, ${s.matched} matched, ${s.drifted} drifted, ${s.unsettled} unsettled, ${s.resolvedInDoubt} in-doubt resolved`, r);
      if (r.status === 'failed') return 1;
      return s.drifted > 0 ? 2 : 0;
    }
    case 'export': {
      const what = positional[0];
      const file = required(flags, 'out');
      const format = typeof flags.format === 'string' ? flags.format : 'csv';
      const q = new URLSearchParams({ format });
      if (typeof flags.from === 'string') q.set('from', flags.from);
      if (typeof flags.to === 'string') q.set('to', flags.to);
      const path = what === 'journal' ? `/v1/journal?${q}`
        : what === 'statement' ? `/v1/accounts/${encodeURIComponent(required(flags, 'account'))}/statement?${q}`
        : what === 'report' ? `/v1/reconciliations/${encodeURIComponent(required(flags, 'run'))}/report?${new URLSearchParams({ format })}`
        : null;
      if (!path) throw new CliError('export what? journal, statement or report');
      const res = await call('GET', path);
      let bytes = 0;
      const tick = progress(`exporting ${what}`);
      const body = Readable.fromWeb(res.body as never);
      body.on('data', (chunk: Buffer) => { bytes += chunk.length; tick(bytes); });
      await pipeline(body, createWriteStream(file));
      if (process.stderr.isTTY) process.stderr.write('\n');
      out(`wrote ${bytes} bytes to ${file}`, { file, bytes });
      return 0;
    }
    case 'batch': {
      const items = JSON.parse(readFileSync(required(flags, 'file'), 'utf8')) as unknown[];
      if (!Array.isArray(items)) throw new CliError('the file must hold a JSON array of transfers');
      const chunk = Math.min(10_000, Math.max(1, Number(flags.chunk ?? 1000)));
      const counts: Record<string, number> = {};
      const refused: unknown[] = [];
      for (let start = 0; start < items.length; start += chunk) {
        const r = await callJson('POST', '/v1/transfers/batch', { transfers: items.slice(start, start + chunk) });
        for (const x of r.results as Array<{ index: number; status: number; error?: unknown }>) {
          counts[x.status] = (counts[x.status] ?? 0) + 1;
          if (x.error) refused.push({ index: start + x.index, error: x.error });
        }
        if (process.stderr.isTTY) process.stderr.write(`\rrecording transfers ${Math.min(start + chunk, items.length)}/${items.length}`);
      }
      if (process.stderr.isTTY) process.stderr.write('\n');
      out(`${items.length} transfers: ${counts[202] ?? 0} recorded, ${counts[200] ?? 0} already recorded, ${refused.length} refused`, { total: items.length, byStatus: counts, refused });
      return refused.length ? 2 : 0;
    }
    case 'verify': {
      const r = await callJson('GET', '/v1/audit/verify');
      out(r.ok ? `journal verified: ${r.checked} entries, chain intact` : `journal BROKEN at sequence ${r.brokenAt} (${r.checked} entries verified before it)`, r);
      return r.ok ? 0 : 2;
    }
    default:
      throw new CliError(`unknown command "${command}" (see --help)`);
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`credit-ledger: ${(err as Error).message}\n`);
      process.exit(err instanceof CliError ? err.exitCode : 1);
    },
  );
}
