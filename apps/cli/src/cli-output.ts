import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Presets, SingleBar } from 'cli-progress';

/** What the CLI prints besides results: its version, progress bars, tables; and a bounded worker pool. */

export function version(): string {
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'credit-ledger') return pkg.version ?? '0.0.0';
    }
  }
  return '0.0.0';
}

/** A progress bar on stderr when it is a terminal (cli-progress draws nothing otherwise). */
export function bar(label: string, total: number): SingleBar {
  const b = new SingleBar({ format: `${label} [{bar}] {value}/{total} {extra}`, hideCursor: true, clearOnComplete: false, stream: process.stderr }, Presets.shades_classic);
  b.start(total, 0, { extra: '' });
  return b;
}

export async function pool<T>(items: T[], size: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

export function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')}`).join('\n');
}
