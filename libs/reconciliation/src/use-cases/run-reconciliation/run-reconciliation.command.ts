import { Logger } from '@app/common';
import { Money } from '@app/ledger';
import { SettleInDoubtUseCase } from '@app/transfers';
import { BookUsageUseCase } from '../book-usage/book-usage.use-case';
import { RunTrigger, Suggestion } from '../../domain/reconciliation';
import { RunDetail, RunSummary } from '../../reconciliation.queries';

export interface RunReconciliationCommand {
  providerAccount: string;
  trigger: RunTrigger;
  /** `system:scheduler` for the cron, the operator (`token:<name>/<role>`) for a manual run. */
  actor: string;
}

/** What the alert hook receives when a run found drift (the app logs, counts and posts it). */
export interface DriftAlert {
  runId: string;
  providerAccount: string;
  startedAt: string;
  finishedAt: string | null;
  summary: RunSummary;
  drifted: Array<{ account: string; expected: string; observed: string; drift: string; suggestion: Suggestion; findingId: string | null; autoBooked: boolean }>;
}

export interface RunReconciliationOptions {
  /** |drift| <= tolerance is a match. Default 0.001. */
  tolerance?: Money | string;
  /** RECONCILE_AUTO_BOOK_USAGE: book negative sub-account drift as usage. Default false. */
  autoBookUsage?: boolean;
  /**
   * An in-doubt transfer is resolved only once it has been in doubt this long before the read
   * window, so that a late provider answer to its call cannot land after the reading. Default
   * 120 s (keep it above the provider timeout).
   */
  inDoubtGraceMs?: number;
  /**
   * The evidence rules the run judges in-doubt transfers with (the worker's, actor
   * `system:reconciliation`). Default: the same rules with the default spending policy.
   */
  settle?: (providerAccount: string) => SettleInDoubtUseCase;
  /** The spending policy of the default `settle` (IN_DOUBT_SPEND_FLOOR, _FACTOR, IN_DOUBT_MIN_HISTORY_WINDOWS). Default 2.000, 3, 3. */
  spend?: { floor: string; factor: string; minWindows: number };
  /** USAGE_AUTO_BOOK: usage between readings is booked before the drift is measured (sub-accounts), main's fall is booked as usage. */
  bookUsage?: (providerAccount: string) => BookUsageUseCase;
  /** A run still `running` after this long is taken over as abandoned. Default 30 min. */
  staleAfterMs?: number;
  maxListPages?: number;
  logger?: Logger;
  /** Called (not awaited, errors logged) with the summary of a completed run that found drift. */
  onDrift?: (alert: DriftAlert) => void | Promise<void>;
  /** Called (not awaited) with every finished run, completed or failed: metrics. */
  onFinished?: (run: RunDetail) => void | Promise<void>;
}
