import { createHash } from 'node:crypto';
import { CliError, EXIT, parseAmount, parseSeconds, readBatch } from './cli-input';

describe('what the CLI checks before sending', () => {
  it('amounts follow the API rule: plain decimal > 0, at most 3 decimals; sent with 3 decimals', () => {
    expect(parseAmount('25')).toBe('25.000');
    expect(parseAmount('0.001')).toBe('0.001');
    for (const bad of ['0', '-1', '1.0001', '1e3', '12,5', 'abc', '', ' ']) expect(() => parseAmount(bad)).toThrow();
  });

  it('timeouts are positive numbers of seconds', () => {
    expect(parseSeconds('1.5')).toBe(1.5);
    for (const bad of ['abc', '0', '-3', '1e2', '']) expect(() => parseSeconds(bad)).toThrow();
  });

  it('a batch gets keys from the sha256 of the file and the index, keeps its own keys, and is stable', () => {
    const content = Buffer.from(JSON.stringify([
      { subaccount: 'a', direction: 'add', amount: '1' },
      { subaccount: 'b', direction: 'remove', amount: 2.5, idempotencyKey: 'mine' },
    ]));
    const hash = createHash('sha256').update(content).digest('hex');
    const { items, fileHash } = readBatch(content);
    expect(fileHash).toBe(hash);
    expect(items.map((i) => i.idempotencyKey)).toEqual([`batch-${hash.slice(0, 40)}-0`, 'mine']);
    expect(readBatch(Buffer.from(content)).items).toEqual(items); // the same file, the same keys
    const changed = readBatch(Buffer.from(content.toString().replace('"1"', '"1.5"')));
    expect(changed.items[0].idempotencyKey).not.toBe(items[0].idempotencyKey); // another file, another batch
  });

  it('a batch with invalid items is refused whole, each named by index', () => {
    const content = Buffer.from(JSON.stringify([
      { subaccount: 'a', direction: 'add', amount: '1' },
      { subaccount: 'a', direction: 'sideways', amount: '1' },
      { subaccount: 'a', direction: 'add', amount: '1', extra: true },
    ]));
    let err: CliError | undefined;
    try { readBatch(content); } catch (e) { err = e as CliError; }
    expect(err).toBeInstanceOf(CliError);
    expect(err!.exitCode).toBe(EXIT.badInput);
    expect((err!.details as Array<{ index: number }>).map((p) => p.index)).toEqual([1, 2]);
    for (const bad of ['', '{}', '[]', 'null']) expect(() => readBatch(Buffer.from(bad))).toThrow(CliError);
  });
});
