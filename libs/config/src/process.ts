import { createLogger, Logger, secrets } from '@app/common';
import { Config } from './config';

/** Which process this is: the pool size, application name and logger name depend on it. */
export type ProcessRole = 'api' | 'worker';

/** The validated configuration of this process. */
export const CONFIG = Symbol('CONFIG');
/** This process's role (api or worker). */
export const PROCESS_ROLE = Symbol('PROCESS_ROLE');
/** This process's logger (pino, secrets scrubbed). */
export const LOGGER = Symbol('LOGGER');

export interface ProcessContext { config: Config; role: ProcessRole; logger: Logger }

/**
 * What a process knows before Nest starts: its validated configuration, its role and its
 * logger. Every configured secret is added to the scrub list here, before anything logs, so
 * it never reaches logs, stored provider text or error answers.
 */
export function processContext(config: Config, role: ProcessRole): ProcessContext {
  secrets.add(config.SMSPARTNER_API_KEY, ...(config.API_TOKENS ?? []).map((t) => t.token), config.WEBHOOK_SECRET, config.METRICS_TOKEN, config.JOURNAL_SIGNING_KEY);
  return { config, role, logger: createLogger(`credit-ledger-${role}`, config.LOG_LEVEL) };
}

/**
 * A worker keeps this many jobs in flight per provider call slot (WORKER_CONCURRENCY): while
 * jobs wait for their outcome to be settled (a settlement group: one transaction for all that
 * arrived during the previous one) or for their group lookup and claim, others already use
 * the slot. With 2, a 10,000-transfer backlog at C = 16 drained at ~250/s with the slots half
 * idle, every job waiting on the settlement group; with 4, ~370/s (docs/benchmarks.md,
 * "Issue 16, sixth pass").
 */
export const WORKER_JOBS_PER_CALL_SLOT = 4;
