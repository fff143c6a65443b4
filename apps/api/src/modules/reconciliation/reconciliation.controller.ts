import { Controller, Inject, Res } from '@nestjs/common';
import { z } from 'zod';
import { driftListQuery, reportQuery, resolveDriftInput, ROUTES, runListQuery, usageReportQuery } from '@app/api-contract';
import { reportCsv, usageReportCsv } from '@app/reconciliation';
import { Services, SERVICES } from '@app/services';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidBody, ValidParam, ValidQuery } from '../../core/endpoint.decorator';
import { CurrentPrincipal } from '../../core/principal.decorator';

type Reply = { header(k: string, v: string): Reply };

@Controller()
export class ReconciliationController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  @Endpoint(ROUTES.startReconciliation, 202)
  async start(@CurrentPrincipal() who: Principal) {
    const run = await this.s.runReconciliation.start({ providerAccount: this.s.providerAccount, trigger: 'manual', actor: who.actor });
    // The run reads the provider and may take a while: it finishes in the background; its
    // outcome (completed or failed, with the reason) is on GET /v1/reconciliations/:id.
    void this.s.runReconciliation.perform(this.s.providerAccount, run.id).catch((err: Error) => {
      this.s.logger.error({ runId: run.id, err: err.message }, 'reconciliation run crashed');
    });
    return { id: run.id, status: 'running', startedAt: run.startedAt };
  }

  @Endpoint(ROUTES.listReconciliations)
  list(@ValidQuery() q: z.output<typeof runListQuery>) {
    return this.s.reconciliations.listRuns(this.s.providerAccount, q);
  }

  @Endpoint(ROUTES.getReconciliation)
  get(@ValidParam('id') id: string) {
    return this.s.reconciliations.getRun(this.s.providerAccount, id);
  }

  @Endpoint(ROUTES.reconciliationReport)
  async report(@ValidParam('id') id: string, @ValidQuery() q: z.output<typeof reportQuery>, @Res({ passthrough: true }) reply: Reply) {
    const report = await this.s.reconciliations.report(this.s.providerAccount, id);
    if (q.format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="reconciliation-${id}.csv"`);
      return reportCsv(report);
    }
    return report;
  }

  @Endpoint(ROUTES.usageReport)
  async usage(@ValidQuery() q: z.output<typeof usageReportQuery>, @Res({ passthrough: true }) reply: Reply) {
    const report = await this.s.usageReport.report(this.s.providerAccount, q.month);
    if (q.format === 'csv') {
      reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="usage-${q.month}.csv"`);
      return usageReportCsv(report);
    }
    return report;
  }

  @Endpoint(ROUTES.listDrifts)
  drifts(@ValidQuery() q: z.output<typeof driftListQuery>) {
    return this.s.reconciliations.listFindings(this.s.providerAccount, q);
  }

  @Endpoint(ROUTES.resolveDrift, 200)
  resolve(@ValidParam('id') id: string, @ValidBody() body: z.output<typeof resolveDriftInput>, @CurrentPrincipal() who: Principal) {
    return this.s.resolveDrift.execute({ providerAccount: this.s.providerAccount, findingId: id, as: body.as, reason: body.reason, actor: who.actor });
  }
}
