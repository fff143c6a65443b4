#!/usr/bin/env node
import '../../../libs/common/src/aliases';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Presets, SingleBar } from 'cli-progress';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  BatchItem, CliError, EXIT, newIdempotencyKey, parseAccount, parseAmount, parseChunk, parseIdempotencyKey, parseInstant,
  parseOutFile, parseReference, parseRunId, parseSeconds, parseToken, readBatch, usageError,
} from './cli-input';
import { apiFromEnv, Json } from './cli-api';
import { bar, pool, table, version } from './cli-output';

/**
 * credit-ledger: the command line for scripts and cron jobs. It talks to the HTTP API
 * (CREDIT_LEDGER_URL, CREDIT_LEDGER_TOKEN), except `migrate`, which needs DATABASE_URL.
 * Every flag and value is checked before the first request; exit codes in EXIT (cli-input.ts).
 */

const EXIT_CODES_HELP = `
Exit codes:
  0   done (transfer posted, no drift, chain intact, every batch item recorded and, with --wait, posted)
  1   not done or not known: API unreachable or 5xx, run failed, transfer failed, voided, in doubt or not final in time
  2   discrepancy found: drift (reconcile), broken chain or digest mismatch (verify)
  3   the API refused the request (HTTP 4xx), or refused some batch items
  64  usage error (unknown command or flag, missing or invalid value): nothing was sent
  65  bad input file (batch, verify --digest): nothing was sent

With --json, stdout holds one JSON document: the result, or {"error":{"code","message"}} on any error.

Environment:
  CREDIT_LEDGER_URL    API base URL (default http://127.0.0.1:3000)
  CREDIT_LEDGER_TOKEN  bearer token (viewer for reads, operator for transfer/batch/reconcile, admin for import/digest/provider-check)
  DATABASE_URL         for migrate
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FINAL = new Set(['posted', 'failed', 'voided', 'in_doubt']);

/** A commander value parser from a checking function (its message becomes the usage error). */
const valid = <T>(fn: (v: string) => T) => (v: string): T => {
  try { return fn(v); } catch (err) { throw new InvalidArgumentError((err as Error).message); }
};

interface Globals { json: boolean; timeout: number }
interface ExportOptions { out: string; format: string; from?: string; to?: string; account?: string; run?: string }

export function buildProgram(out: (human: string, data: unknown) => void, globals: () => Globals, setExit: (code: number) => void): Command {
  /** An action whose result (undefined: ok) is the exit code. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const act = <A extends any[]>(fn: (...args: A) => Promise<number | void>) => async (...args: A) => { setExit((await fn(...args)) ?? EXIT.ok); };
  const program = new Command('credit-ledger')
    .usage('<command> [options]')
    .description('Credit Ledger from the command line: transfers, batches, reconciliation, exports, audit')
    .version(version(), '-V, --version', 'print the version')
    .option('--json', 'machine-readable output on stdout (errors too)')
    .option('--timeout <seconds>', 'how long to wait for final states', valid(parseSeconds), 60)
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(credit-ledger --help for usage)')
    .exitOverride();

  program.command('migrate').description('apply database migrations (DATABASE_URL)')
    .option('--create', 'create the database first if it does not exist', false)
    .action(act(async (o: { create: boolean }) => {
      const url = process.env.DATABASE_URL;
      if (!url) throw usageError('DATABASE_URL is required');
      // Loaded here only: the database layer is the slowest part of starting the CLI.
      const { ensureDatabase, migrate } = await import('@app/persistence');
      if (o.create) await ensureDatabase(url);
      const r = await migrate(url);
      out(r.applied.length ? `applied: ${r.applied.join(', ')}` : `up to date (${r.alreadyApplied} migrations)`, r);
    }));

  program.command('import').description('import or refresh sub-accounts from the provider (admin)')
    .action(act(async () => {
      const r = await apiFromEnv().json('POST', '/v1/subaccounts/import');
      out(`sub-accounts: ${r.total} (${r.imported} new, ${r.refreshed} refreshed), opening balances booked: ${r.openingBalances}`, r);
    }));

  program.command('transfer').description('record a transfer and wait for its final state (exit 0 only when posted)')
    .requiredOption('--subaccount <token>', 'sub-account token', valid(parseToken))
    .addOption(new Option('--direction <direction>', 'add to or remove from the sub-account').choices(['add', 'remove']).makeOptionMandatory())
    .requiredOption('--amount <amount>', 'EUR, a plain decimal > 0 with at most 3 decimals', valid(parseAmount))
    .option('--reference <text>', 'your reference (1-200 characters)', valid(parseReference))
    .option('--idempotency-key <key>', 'replay key (default: a new one, printed); rerun with it to learn the outcome without recording twice', valid(parseIdempotencyKey))
    .option('--no-wait', 'return once recorded (pending)')
    .action(act(async (o: { subaccount: string; direction: string; amount: string; reference?: string; idempotencyKey?: string; wait: boolean }) => {
      const api = apiFromEnv();
      const { timeout } = globals();
      const key = o.idempotencyKey ?? newIdempotencyKey();
      process.stderr.write(`idempotency key: ${key} (rerun with --idempotency-key ${key} to replay)\n`);
      const body = { subaccount: o.subaccount, direction: o.direction, amount: o.amount, ...(o.reference ? { reference: o.reference } : {}) };
      let t: Json;
      try {
        t = await api.json('POST', '/v1/transfers', body, { 'idempotency-key': key });
      } catch (err) {
        if (err instanceof CliError && err.exitCode === EXIT.failure) { // no answer, or a 5xx: recorded or not is unknown
          throw new CliError(err.code, `${err.message}; whether the transfer was recorded is unknown: rerun with --idempotency-key ${key}`, err.exitCode, err.details);
        }
        throw err;
      }
      const end = Date.now() + timeout * 1000;
      while (o.wait && !FINAL.has(t.status) && Date.now() < end) {
        await sleep(100);
        t = await api.json('GET', `/v1/transfers/${t.id}`);
      }
      out(`transfer ${t.id}: ${t.status}${t.failureReason ? ` (${t.failureReason})` : ''}; idempotency key ${key}`, { ...t, idempotencyKey: key });
      return !o.wait || t.status === 'posted' ? EXIT.ok : EXIT.failure;
    }));

  program.command('batch').description('record many transfers from a JSON file: an array of {subaccount, direction, amount, reference?, idempotencyKey?}')
    .requiredOption('--file <file>', 'the JSON file')
    .option('--chunk <n>', 'items per request (1-10000)', valid(parseChunk), 1000)
    .option('--wait', 'follow execution to final states (posted, failed, voided, in doubt) with a progress bar', false)
    .action(act(async (o: { file: string; chunk: number; wait: boolean }) => {
      let content: Buffer;
      try { content = readFileSync(o.file); } catch (err) {
        throw new CliError('bad_input', `cannot read ${o.file}: ${(err as Error).message}`, EXIT.badInput);
      }
      const { items, fileHash } = readBatch(content);
      const api = apiFromEnv();
      const { timeout } = globals();
      const byStatus: Record<string, number> = {};
      const refused: Array<{ index: number; status: number; error: unknown }> = [];
      const transfers = new Map<number, Json>();
      const recording = bar('recording', items.length);
      try {
        for (let start = 0; start < items.length; start += o.chunk) {
          const chunk: BatchItem[] = items.slice(start, start + o.chunk);
          const r = await api.json('POST', '/v1/transfers/batch', { transfers: chunk }).catch((err: unknown) => {
            if (!(err instanceof CliError) || start === 0) throw err;
            throw new CliError(err.code, `${err.message}; items before #${start} were sent: run the same file again, they replay`, err.exitCode, err.details);
          });
          for (const x of r.results as Array<{ index: number; status: number; transfer?: Json; error?: unknown }>) {
            byStatus[x.status] = (byStatus[x.status] ?? 0) + 1;
            if (x.transfer) transfers.set(start + x.index, x.transfer);
            else refused.push({ index: start + x.index, status: x.status, error: x.error });
          }
          recording.update(Math.min(start + o.chunk, items.length));
        }
      } finally {
        recording.stop();
      }
      const result: Record<string, unknown> = {
        total: items.length, file: { sha256: fileHash }, byStatus, recorded: byStatus[202] ?? 0, replayed: byStatus[200] ?? 0, refused,
      };
      const lines = [`${items.length} transfers: ${result.recorded} recorded, ${result.replayed} already recorded (replayed), ${refused.length} refused`];
      for (const r of refused) {
        const e = r.error as { code?: string; message?: string } | undefined;
        lines.push(`  refused #${r.index}: ${r.status} ${e?.code ?? ''}${e?.message ? `: ${e.message}` : ''}`);
      }
      let notPosted: Json[] = [];
      if (o.wait && transfers.size) {
        const executing = bar('executing', transfers.size);
        const end = Date.now() + timeout * 1000;
        try {
          let open = [...transfers.entries()].filter(([, t]) => !FINAL.has(t.status));
          executing.update(transfers.size - open.length);
          while (open.length && Date.now() < end) {
            await sleep(250);
            await pool(open, 8, async ([index, t]) => { transfers.set(index, await api.json('GET', `/v1/transfers/${t.id}`)); });
            open = open.filter(([index]) => !FINAL.has(transfers.get(index).status));
            executing.update(transfers.size - open.length);
          }
        } finally {
          executing.stop();
        }
        const final: Record<string, number> = {};
        for (const t of transfers.values()) final[FINAL.has(t.status) ? t.status : 'not_final'] = (final[FINAL.has(t.status) ? t.status : 'not_final'] ?? 0) + 1;
        notPosted = [...transfers.entries()].filter(([, t]) => t.status !== 'posted')
          .map(([index, t]) => ({ index, id: t.id, status: t.status, failureReason: t.failureReason ?? null }));
        result.final = final;
        result.notPosted = notPosted;
        lines.push(`final states: ${['posted', 'failed', 'voided', 'in_doubt', 'not_final'].map((s) => `${final[s] ?? 0} ${s.replace('_', ' ')}`).join(', ')}`);
        for (const t of notPosted) lines.push(`  #${t.index} ${t.id}: ${t.status}${t.failureReason ? ` (${t.failureReason})` : ''}`);
      }
      out(lines.join('\n'), result);
      if (notPosted.length) return EXIT.failure;
      return refused.length ? EXIT.refused : EXIT.ok;
    }));

  program.command('reconcile').description('run a reconciliation and list the accounts that drifted (exit 2 on drift, 1 if the run failed)')
    .option('--no-wait', 'return once started')
    .action(act(async (o: { wait: boolean }) => {
      const api = apiFromEnv();
      const { timeout } = globals();
      let r = await api.json('POST', '/v1/reconciliations');
      const end = Date.now() + timeout * 1000;
      while (o.wait && r.status === 'running' && Date.now() < end) {
        await sleep(200);
        r = await api.json('GET', `/v1/reconciliations/${r.id}`);
      }
      if (!o.wait) { out(`reconciliation ${r.id}: ${r.status}`, r); return EXIT.ok; }
      if (r.status === 'running') throw new CliError('timeout', `reconciliation ${r.id} still running after ${timeout}s`, EXIT.failure);
      const s = r.summary;
      const drifted = (r.items as Json[] ?? []).filter((i) => i.status === 'drift')
        .map((i) => ({ account: i.account, expected: i.expected, observed: i.observed, drift: i.drift }));
      const lines = [`reconciliation ${r.id}: ${r.status}${r.error ? ` (${r.error})` : ''} — ${s.accounts} accounts, ${s.matched} matched, ${s.drifted} drifted, ${s.unsettled} unsettled, ${s.resolvedInDoubt} in-doubt resolved`];
      if (drifted.length) lines.push('drifted accounts:', table([['account', 'expected', 'observed', 'drift'], ...drifted.map((d) => [d.account, d.expected, d.observed, d.drift])]));
      out(lines.join('\n'), { ...r, drifted });
      if (r.status === 'failed') return EXIT.failure;
      return s.drifted > 0 ? EXIT.discrepancy : EXIT.ok;
    }));

  const exp = program.command('export').description('write an export to a file (times are ISO 8601 in UTC)');
  const exportTo = async (what: string, path: string, file: string) => {
    const res = await apiFromEnv().request('GET', path);
    let bytes = 0;
    const b = new SingleBar({ format: `exporting ${what}: {value} bytes`, stream: process.stderr }, Presets.shades_classic);
    b.start(0, 0);
    const count = new Transform({ transform(chunk: Buffer, _enc, done) { bytes += chunk.length; b.update(bytes); done(null, chunk); } });
    try {
      await pipeline(Readable.fromWeb(res.body as never), count, createWriteStream(file));
    } finally {
      b.stop();
    }
    out(`wrote ${bytes} bytes to ${file}`, { file, bytes });
  };
  const period = (o: { from?: string; to?: string }, extra: Record<string, string> = {}) =>
    new URLSearchParams({ ...extra, ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) });
  const formats = (...f: string[]) => new Option('--format <format>', 'file format').choices(f).default(f[0]);
  exp.command('journal').description('the hash-chained journal (one row per entry)')
    .requiredOption('--out <file>', 'where to write', valid(parseOutFile)).addOption(formats('csv', 'jsonl'))
    .option('--from <iso>', 'from this instant', valid(parseInstant)).option('--to <iso>', 'before this instant', valid(parseInstant))
    .action(act((o: ExportOptions) => exportTo('journal', `/v1/journal?${period(o, { format: o.format })}`, o.out)));
  exp.command('journal-lines').description('one row per posting: date (UTC), transaction, account, debit, credit, memo, reference, actor')
    .requiredOption('--out <file>', 'where to write', valid(parseOutFile)).addOption(formats('csv', 'jsonl'))
    .option('--from <iso>', 'from this instant', valid(parseInstant)).option('--to <iso>', 'before this instant', valid(parseInstant))
    .action(act((o: ExportOptions) => exportTo('journal lines', `/v1/journal/lines?${period(o, { format: o.format })}`, o.out)));
  exp.command('statement').description('opening balance, postings and closing balance of one account')
    .requiredOption('--account <code>', 'main, funding, usage, adjustment or sub:<token>', valid(parseAccount))
    .requiredOption('--out <file>', 'where to write', valid(parseOutFile)).addOption(formats('csv', 'json'))
    .option('--from <iso>', 'from this instant (default: start of the month)', valid(parseInstant)).option('--to <iso>', 'before this instant (default: now)', valid(parseInstant))
    .action(act((o: ExportOptions) => exportTo('statement', `/v1/accounts/${encodeURIComponent(o.account!)}/statement?${period(o, { format: o.format })}`, o.out)));
  exp.command('report').description('the report of a reconciliation run')
    .requiredOption('--run <id>', 'the run id', valid(parseRunId))
    .requiredOption('--out <file>', 'where to write', valid(parseOutFile)).addOption(formats('csv', 'json'))
    .action(act((o: ExportOptions) => exportTo('report', `/v1/reconciliations/${o.run}/report?format=${o.format}`, o.out)));

  program.command('verify').description('verify the journal hash chain; with --digest, against a digest kept earlier (exit 2 when broken)')
    .option('--digest <file>', 'a digest file written by `credit-ledger digest`')
    .action(act(async (o: { digest?: string }) => {
      let digest: unknown;
      if (o.digest) {
        try { digest = JSON.parse(readFileSync(o.digest, 'utf8')); } catch (err) {
          throw new CliError('bad_input', `cannot read the digest ${o.digest}: ${(err as Error).message}`, EXIT.badInput);
        }
      }
      const api = apiFromEnv();
      const r = digest === undefined ? await api.json('GET', '/v1/audit/verify') : await api.json('POST', '/v1/audit/verify', { digest });
      const broken = r.brokenAt ? ` at sequence ${r.brokenAt}` : '';
      out(r.ok ? `journal verified: ${r.checked ?? '?'} entries, chain intact${digest === undefined ? '' : ', matches the digest'}`
        : `journal BROKEN${broken}${r.reason ? `: ${r.reason}` : ''} (${r.checked ?? '?'} entries verified before it)`, r);
      return r.ok ? EXIT.ok : EXIT.discrepancy;
    }));

  program.command('digest').description('take a signed digest of the journal head now and save it (keep it to verify against later)')
    .requiredOption('--out <file>', 'where to write the digest (JSON)', valid(parseOutFile))
    .action(act(async (o: { out: string }) => {
      const r = await apiFromEnv().json('POST', '/v1/audit/digests');
      writeFileSync(o.out, `${JSON.stringify(r, null, 2)}\n`);
      out(`wrote the digest${r.sequence !== undefined ? ` of sequence ${r.sequence}` : ''} to ${o.out}`, { file: o.out, digest: r });
    }));

  program.command('provider-check').description('read-only checks against the configured provider (admin): shapes, switches, latency, clock')
    .action(act(async () => {
      const r = await apiFromEnv().json('GET', '/v1/provider/check');
      out(`provider check: ${r.ok === false ? 'PROBLEMS' : 'ok'}\n${JSON.stringify(r, null, 2)}`, r);
      return r.ok === false ? EXIT.failure : EXIT.ok;
    }));

  return program;
}

/** Runs the command line; resolves to the exit code. Never throws. */
export async function run(argv: string[]): Promise<number> {
  // --json is known before parsing so that a usage error is JSON too.
  const jsonMode = argv.includes('--json');
  const out = (human: string, data: unknown) => process.stdout.write(jsonMode ? `${JSON.stringify(data)}\n` : `${human}\n`);
  let code: number = EXIT.ok;
  const program = buildProgram(out, () => program.opts<Globals>(), (c) => { code = c; });
  program.configureOutput({ writeErr: (s) => { if (!jsonMode) process.stderr.write(s); } });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT.ok; // --help, help, --version
      // Commander has written its message (and the help without a command) to stderr, unless --json.
      const message = err.code === 'commander.help' ? 'a command is required' : err.message.replace(/^error: /, '');
      if (jsonMode) return fail(new CliError('usage', message, EXIT.usage), jsonMode);
      return EXIT.usage;
    }
    return fail(err, jsonMode);
  }
  return code;
}

function fail(err: unknown, jsonMode: boolean): number {
  const e = err instanceof CliError ? err : new CliError('error', (err as Error).message ?? String(err), EXIT.failure);
  if (jsonMode) {
    const details = e.details as { status?: number } | unknown[] | undefined;
    const extra = Array.isArray(details) ? { items: details } : details?.status ? { status: details.status } : {};
    process.stdout.write(`${JSON.stringify({ error: { code: e.code, message: e.message, ...extra } })}\n`);
  } else {
    process.stderr.write(`credit-ledger: ${e.message}\n`);
  }
  return e.exitCode;
}

if (require.main === module) {
  // `credit-ledger … | head`: a closed pipe ends the output, not with a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err; });
  run(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
