import { DriftResolutionKind } from '../../domain/reconciliation';

export interface ResolveDriftCommand {
  providerAccount: string;
  findingId: string;
  /** usage (negative drift only), purchase (positive only) or write_off (either). */
  as: DriftResolutionKind;
  reason: string;
  /** The operator, e.g. `token:<name>/operator`. */
  actor: string;
}
