import { Money } from './money';
import { adjustmentPostings, assertBalanced, transferPostings, UnbalancedTransactionError } from './postings';
import { availableDeltas, balanceJson, balanceView } from './balance';
import { isProviderBacked, isValidSubaccountToken, kindOfCode, subaccountCode, SYSTEM_ACCOUNTS } from './chart';

const m = Money.parse;
const lines = (ls: Array<{ account: string; amount: Money }>) => ls.map((l) => [l.account, l.amount.toFixed()]);

describe('transfer postings', () => {
  it('add debits the sub-account and credits main; remove the reverse', () => {
    expect(lines(transferPostings('add', 'abc', m('12.5')))).toEqual([['sub:abc', '12.500'], ['main', '-12.500']]);
    expect(lines(transferPostings('remove', 'abc', m('12.5')))).toEqual([['main', '12.500'], ['sub:abc', '-12.500']]);
  });

  it('refuses a zero or negative amount, and an invalid token', () => {
    expect(() => transferPostings('add', 'abc', m('0'))).toThrow(RangeError);
    expect(() => transferPostings('remove', 'abc', m('-1'))).toThrow('a transfer amount must be positive');
    expect(() => transferPostings('add', 'a b', m('1'))).toThrow('invalid sub-account token');
  });

  it('are balanced', () => {
    expect(() => assertBalanced(transferPostings('add', 'abc', m('0.001')))).not.toThrow();
  });
});

describe('adjustment postings', () => {
  it('usage lowers the account against usage; refuses raising it', () => {
    expect(lines(adjustmentPostings('usage', 'sub:abc', m('-2')))).toEqual([['sub:abc', '-2.000'], ['usage', '2.000']]);
    expect(() => adjustmentPostings('usage', 'sub:abc', m('2'))).toThrow('usage can only lower a balance');
  });

  it('purchase and opening balance raise the account against funding; refuse lowering it', () => {
    expect(lines(adjustmentPostings('purchase', 'main', m('5')))).toEqual([['main', '5.000'], ['funding', '-5.000']]);
    expect(lines(adjustmentPostings('opening_balance', 'sub:x', m('0.5')))).toEqual([['sub:x', '0.500'], ['funding', '-0.500']]);
    expect(() => adjustmentPostings('purchase', 'main', m('-5'))).toThrow('purchase can only raise a balance');
    expect(() => adjustmentPostings('opening_balance', 'main', m('-5'))).toThrow('opening_balance can only raise a balance');
  });

  it('a write-off goes either way, against adjustment', () => {
    expect(lines(adjustmentPostings('write_off', 'sub:x', m('-1')))).toEqual([['sub:x', '-1.000'], ['adjustment', '1.000']]);
    expect(lines(adjustmentPostings('write_off', 'sub:x', m('1')))).toEqual([['sub:x', '1.000'], ['adjustment', '-1.000']]);
  });

  it('zero moves nothing and is refused, for every kind', () => {
    for (const kind of ['usage', 'purchase', 'write_off', 'opening_balance'] as const) {
      expect(() => adjustmentPostings(kind, 'main', m('0'))).toThrow('an adjustment of zero moves nothing');
    }
  });
});

describe('assertBalanced: double entry', () => {
  const l = (account: string, amount: string) => ({ account, amount: m(amount) });
  it('accepts two or more legs on distinct accounts summing to zero', () => {
    expect(() => assertBalanced([l('a', '1'), l('b', '-1')])).not.toThrow();
    expect(() => assertBalanced([l('a', '1'), l('b', '2'), l('c', '-3')])).not.toThrow();
  });
  it('refuses fewer than two legs', () => {
    expect(() => assertBalanced([])).toThrow('a transaction needs at least two postings');
    expect(() => assertBalanced([l('a', '1')])).toThrow(UnbalancedTransactionError);
  });
  it('refuses two legs on one account', () => {
    expect(() => assertBalanced([l('a', '1'), l('a', '-1')])).toThrow('one posting per account per transaction');
  });
  it('refuses a zero leg', () => {
    expect(() => assertBalanced([l('a', '1'), l('b', '-1'), l('c', '0')])).toThrow('a posting cannot be zero');
  });
  it('refuses legs that do not sum to zero, naming the sum', () => {
    expect(() => assertBalanced([l('a', '1'), l('b', '-0.999')])).toThrow('postings sum to 0.001, not zero');
    expect(() => assertBalanced([l('a', '1'), l('b', '-0.999')])).toThrow(UnbalancedTransactionError);
  });
});

describe('balances (debit-normal)', () => {
  const counters = (dp: string, cp: string, dpe: string, cpe: string) => ({ debitsPosted: m(dp), creditsPosted: m(cp), debitsPending: m(dpe), creditsPending: m(cpe) });
  it('posted = debits - credits; pending = pending debits - pending credits; available = posted - money reserved to leave', () => {
    const v = balanceView(counters('100', '30', '5', '20'));
    expect(balanceJson(v)).toEqual({ posted: '70.000', pending: '-15.000', available: '50.000' });
  });
  it('incoming reservations do not raise the available balance', () => {
    expect(balanceJson(balanceView(counters('10', '0', '50', '0')))).toEqual({ posted: '10.000', pending: '50.000', available: '10.000' });
  });

  it('availableDeltas: money leaving counts at once, money arriving only once posted', () => {
    const ls = transferPostings('add', 'abc', m('4'));
    expect([...availableDeltas(ls, 'pending')].map(([a, d]) => [a, d.toFixed()])).toEqual([['main', '-4.000']]);
    expect([...availableDeltas(ls, 'posted')].map(([a, d]) => [a, d.toFixed()])).toEqual([['sub:abc', '4.000'], ['main', '-4.000']]);
    const twice = availableDeltas([{ account: 'x', amount: m('-1') }, { account: 'x', amount: m('-2') }], 'pending');
    expect(twice.get('x')!.toFixed()).toBe('-3.000');
  });
});

describe('chart of accounts', () => {
  it('sub-account tokens: [A-Za-z0-9_-], 1 to 128 characters', () => {
    for (const ok of ['a', 'A-z_09', 'x'.repeat(128)]) expect(isValidSubaccountToken(ok)).toBe(true);
    for (const bad of ['', 'x'.repeat(129), 'a b', 'a:b', 'é', 'a\n', '\na']) expect(isValidSubaccountToken(bad)).toBe(false);
    expect(subaccountCode('abc')).toBe('sub:abc');
    expect(() => subaccountCode('')).toThrow('invalid sub-account token');
  });

  it('kinds of codes: the four system accounts and sub:<token>; anything else is no account', () => {
    expect(SYSTEM_ACCOUNTS).toEqual(['main', 'funding', 'usage', 'adjustment']);
    expect(SYSTEM_ACCOUNTS.map(kindOfCode)).toEqual(['main', 'funding', 'usage', 'adjustment']);
    expect(kindOfCode('sub:abc')).toBe('subaccount');
    for (const bad of ['sub:', 'sub:a b', 'Main', 'main ', 'subaccount', 'sub', '']) expect(kindOfCode(bad)).toBeUndefined();
  });

  it('only main and sub-accounts are backed by the provider', () => {
    expect((['main', 'subaccount', 'funding', 'usage', 'adjustment'] as const).map(isProviderBacked)).toEqual([true, true, false, false, false]);
  });
});
