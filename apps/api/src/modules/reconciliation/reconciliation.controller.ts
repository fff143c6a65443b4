import { Controller, Inject, Res } from '@nestjs/common';
import { z } from 'zod';
import { driftListQuery, reportQuery, resolveDriftInput, ROUTES, runListQuery, usageReportQuery } from '@app/api-contract';
import { Logger } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { ReconciliationQueries, reportCsv, ResolveDriftUseCase, RunReconciliationUseCase, UsageReportQueries, usageReportCsv } from '@app/reconciliation';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidBody, ValidParam, ValidQuery } from '../../core/endpoint.decorator';
import { CurrentPrincipal } from '../../core/principal.decorator';

type Reply = { header(k: string, v: string): Reply };

@Controller()
export class ReconciliationController {
  private readonly providerAccount: string;

  constructor(
    @Inject(CONFIG) config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly runReconciliation: RunReconciliationUseCase,
    private readonly reconciliations: ReconciliationQueries,
    private readonly usageReport: UsageReportQueries,
    private readonly resolveDrift: ResolveDriftUseCase,
  ) {
    this.providerAccount = config.PROVIDER_ACCOUNT;
  }

  @Endpoint(ROUTES.startReconciliation, 202)
  async start(@CurrentPrincipal() who: Principal) {
    const run = await this.runReconciliation.start({ providerAccount: this.providerAccount, trigger: 'manual', actor: who.actor });
    // The run reads the provider and may take a while: it finishes in the background; its
    // outcome (completed or failed, with the reason) is on GET /v1/reconciliations/:id.
    void this.runReconciliation.perform(this.providerAccount, run.id).catch((err: Error) => {
      this.logger.error({ runId: run.id, err: err.message }, 'reconciliation run crashed');
    });
    return { id: run.id, status: 'running', startedAt: run.startedAt };
  }

  @Endpoint(ROUTES.listReconciliations)
  list(@ValidQuery() q: z.output<typeof runListQuery>) {
    return this.reconciliations.listRuns(this.providerAccount, q);
  }

  @Endpoint(ROUTES.getReconciliation)
  get(@ValidParam('id') id: string) {
    return this.reconciliations.getRun(this.providerAccount, id);
  }

  @Endpoint(ROUTES.reconciliationReport)
  async report(@ValidParam('id') id: string, @ValidQuery() q: z.output<typeof reportQuery>, @Res({ passthrough: true }) reply: Reply) {
    const report = await this.reconciliations.report(this.providerAccount, id);
    if (q.format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="reconciliation-${id}.csv"`);
      return reportCsv(report);
    }
    return report;
  }

  @Endpoint(ROUTES.usageReport)
  async usage(@ValidQuery() q: z.output<typeof usageReportQuery>, @Res({ passthrough: true }) reply: Reply) {
    const report = await this.usageReport.report(this.providerAccount, q.month);
    if (q.format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="usage-${q.month}.csv"`);
      return usageReportCsv(report);
    }
    return report;
  }

  @Endpoint(ROUTES.listDrifts)
  drifts(@ValidQuery() q: z.output<typeof driftListQuery>) {
    return this.reconciliations.listFindings(this.providerAccount, q);
  }

  @Endpoint(ROUTES.resolveDrift, 200)
  resolve(@ValidParam('id') id: string, @ValidBody() body: z.output<typeof resolveDriftInput>, @CurrentPrincipal() who: Principal) {
    return this.resolveDrift.execute({ providerAccount: this.providerAccount, findingId: id, as: body.as, reason: body.reason, actor: who.actor });
  }
}
