import { Controller, Inject } from '@nestjs/common';
import { z } from 'zod';
import { historyQuery, ROUTES } from '@app/api-contract';
import { Config, CONFIG } from '@app/config';
import { AccountHistoryQueries } from '@app/reconciliation';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidParam, ValidQuery } from '../../core/endpoint.decorator';
import { CurrentPrincipal } from '../../core/principal.decorator';

const DAY_MS = 24 * 3600 * 1000;

/** The JSON the dashboard needs beyond the rest of the API: who is calling, and balance history. */
@Controller()
export class DashboardController {
  private readonly providerAccount: string;

  constructor(@Inject(CONFIG) config: Config, private readonly accountHistory: AccountHistoryQueries) {
    this.providerAccount = config.PROVIDER_ACCOUNT;
  }

  @Endpoint(ROUTES.me)
  me(@CurrentPrincipal() who: Principal) {
    return { name: who.name, role: who.role };
  }

  @Endpoint(ROUTES.accountHistory)
  history(@ValidParam('code') code: string, @ValidQuery() q: z.output<typeof historyQuery>) {
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - 30 * DAY_MS);
    return this.accountHistory.history(this.providerAccount, code, from, to);
  }
}
