import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * The benchmarks are not tests; this only checks that they still run: `npm run bench --
 * --smoke` (tiny sizes, every scenario) must exit 0 and print each scenario's figure lines,
 * a figure next to its baseline. The figures themselves are not judged here.
 */
const ROOT = join(__dirname, '..');
const EXPECTED = [
  'recording.c4.throughput', 'recording.c4.latency', 'recording.batch200',
  'executing.latency0ms.throughput', 'executing.latency0ms.request_to_posted', 'executing.c32.latency0ms.throughput',
  'reconciliation.ledger_side_500', 'reconciliation.end_to_end_100',
  'reads.1k.balance', 'reads.1k.statement', 'reads.5k.balance', 'reads.5k.statement',
  'memory.api.rss_after_', 'memory.worker.rss_after_', 'memory.journal_csv_export',
  'mixed.c8.recording_throughput', 'mixed.c8.recording_latency', 'mixed.executing_throughput',
  'backlog.first_window', 'backlog.drain',
];

describe('benchmarks (smoke mode)', () => {
  it('runs every scenario at tiny sizes, exits 0 and prints figure lines with baselines', async () => {
    const child = spawn(process.execPath, [join(ROOT, 'bench', 'run.js'), '--smoke'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_PG_URL: process.env.DATABASE_URL!.replace(/\/[^/]+$/, '/postgres'), BENCH_REDIS_URL: process.env.REDIS_URL },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b) => { out += b; });
    child.stderr.on('data', (b) => { out += b; });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`bench --smoke exited ${code}:\n${out.slice(-4000)}`);
    const figures = out.split('\n').filter((l) => l.startsWith('FIGURE '));
    for (const name of EXPECTED) {
      const line = figures.find((l) => l.startsWith(`FIGURE ${name}`));
      expect(line).toBeDefined();
      // A number with its unit, then a baseline with a number: never NaN.
      expect(line).toMatch(/^FIGURE \S+ \d+(\.\d+)? \S.* \| baseline [^|]+: \d+(\.\d+)? /);
    }
    expect(out).toMatch(/bench finished in [\d.]+ s: \d+ figures/);
    expect(out).not.toMatch(/FAILED/);
  }, 240_000);
});
