import { REJECTION_REASONS, rejectionReason } from './provider-outcome';

describe('provider error codes, per call', () => {
  it('add and remove: the documented codes', () => {
    const expected = { 1: 'missing_parameter', 2: 'missing_parameter', 3: 'missing_parameter', 4: 'not_authorised', 5: 'invalid_amount', 6: 'insufficient_credit', 7: 'subaccount_not_found', 8: 'insufficient_credit', 9: 'invalid_key', 10: 'invalid_key' };
    for (const call of ['add', 'remove'] as const) {
      for (const [code, reason] of Object.entries(expected)) expect([call, code, rejectionReason(call, Number(code))]).toEqual([call, code, reason]);
    }
  });

  it('create numbers its errors differently (7 is "email exists")', () => {
    const expected = { 1: 'missing_parameter', 2: 'not_authorised', 3: 'missing_parameter', 4: 'missing_parameter', 5: 'invalid_request', 6: 'missing_parameter', 7: 'email_exists', 8: 'invalid_amount', 9: 'insufficient_credit', 10: 'invalid_key' };
    for (const [code, reason] of Object.entries(expected)) expect([code, rejectionReason('create', Number(code))]).toEqual([code, reason]);
    expect(rejectionReason('add', 7)).toBe('subaccount_not_found');
  });

  it('me and list know the key codes (1 missing, 9 and 10 invalid) and the general ones', () => {
    for (const call of ['me', 'list'] as const) {
      expect(rejectionReason(call, 9)).toBe('invalid_key');
      expect(rejectionReason(call, 10)).toBe('invalid_key');
      expect(rejectionReason(call, 1)).toBe('missing_parameter');
      expect(rejectionReason(call, 7)).toBe('unknown_code');
    }
  });

  it("the general error page's codes hold for every call: 11, 96 (IP not allowed), 500 (queueing problem)", () => {
    for (const call of ['me', 'list', 'create', 'add', 'remove'] as const) {
      expect(rejectionReason(call, 96)).toBe('ip_not_allowed');
      expect(rejectionReason(call, 500)).toBe('provider_error');
      expect(rejectionReason(call, 11)).toBe('insufficient_credit');
    }
  });

  it('undocumented codes are still a rejection: unknown_code', () => {
    for (const call of ['me', 'list', 'create', 'add', 'remove'] as const) {
      expect(rejectionReason(call, 97)).toBe('unknown_code');
      expect(rejectionReason(call, 0)).toBe('unknown_code');
      expect(rejectionReason(call, -1)).toBe('unknown_code');
    }
  });

  it('a validation-form body is invalid_request whatever its code, except 10 (invalid key)', () => {
    expect(rejectionReason('add', 9, true)).toBe('invalid_request');
    expect(rejectionReason('create', 7, true)).toBe('invalid_request');
    expect(rejectionReason('me', 96, true)).toBe('invalid_request');
    expect(rejectionReason('add', 10, true)).toBe('invalid_key');
    expect(rejectionReason('add', 9, false)).toBe('invalid_key');
  });

  it('every call has its table', () => {
    expect(Object.keys(REJECTION_REASONS).sort()).toEqual(['add', 'create', 'list', 'me', 'remove']);
    expect(REJECTION_REASONS.add).toEqual(REJECTION_REASONS.remove);
    expect(REJECTION_REASONS.me).toEqual(REJECTION_REASONS.list);
  });
});
