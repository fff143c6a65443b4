import { DomainError } from '@app/common';
import { ProviderOutcome } from './provider-outcome';

/** Turns a non-ok provider answer to a read or create call into the error a client sees. */
export function providerFailure(what: string, o: Exclude<ProviderOutcome<unknown>, { kind: 'ok' }>): DomainError {
  if (o.kind === 'rejected') {
    if (o.reason === 'email_exists') return new DomainError('subaccount_exists', `${what}: the provider already has an account with this email`, { providerCode: o.code });
    const advice = o.operatorMessage ? ` ${o.operatorMessage}` : '';
    return new DomainError('provider_rejected', `${what}: the provider refused (${o.reason}): ${o.message.replace(/\.$/, '')}.${advice}`, { providerCode: o.code, reason: o.reason });
  }
  return new DomainError('provider_unavailable', `${what}: the provider could not be reached or answered unclearly (${o.cause})`, {
    kind: o.kind, ...(o.kind === 'unknown' && o.configurationProblem ? { configurationProblem: o.configurationProblem } : {}),
  });
}
