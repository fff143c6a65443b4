import { Controller, Inject } from '@nestjs/common';
import { z } from 'zod';
import { createSubaccountInput, pageQuery, ROUTES } from '@app/api-contract';
import { Cursors, DomainError, fetchSize, pageOf } from '@app/common';
import { balanceJson } from '@app/ledger';
import { Config, CONFIG } from '@app/config';
import { CreateSubaccountUseCase, ImportSubaccountsUseCase, SubaccountsQueries, SubaccountView } from '@app/subaccounts';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidBody, ValidParam, ValidQuery } from '../../core/endpoint.decorator';
import { CurrentPrincipal } from '../../core/principal.decorator';

function subaccountJson(v: SubaccountView) {
  return {
    token: v.token, email: v.email, type: v.type, title: v.title,
    balance: balanceJson(v.balance),
    // drift: what the provider showed minus the ledger's posted balance at that reading.
    observed: v.observed ? {
      balance: v.observed.balance.toFixed(), at: v.observed.at.toISOString(), source: v.observed.source,
      expected: v.observed.expected.toFixed(), drift: v.observed.balance.minus(v.observed.expected).toFixed(),
    } : null,
    createdAt: v.createdAt.toISOString(),
  };
}

@Controller()
export class SubaccountsController {
  private readonly providerAccount: string;

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly subaccounts: SubaccountsQueries,
    private readonly createSubaccount: CreateSubaccountUseCase,
    private readonly importSubaccounts: ImportSubaccountsUseCase,
  ) {
    this.providerAccount = config.PROVIDER_ACCOUNT;
  }

  @Endpoint(ROUTES.listSubaccounts)
  async list(@ValidQuery() q: z.output<typeof pageQuery>) {
    const rows = await this.subaccounts.list(this.providerAccount, fetchSize(q.limit), q.cursor === undefined ? undefined : Cursors.token.decode(q.cursor));
    return pageOf(rows, q.limit, (last) => Cursors.token.encode(last.token), subaccountJson);
  }

  @Endpoint(ROUTES.getSubaccount)
  async get(@ValidParam('token') token: string) {
    const v = await this.subaccounts.get(this.providerAccount, token);
    if (!v) throw new DomainError('subaccount_not_found', `sub-account ${token} does not exist`);
    return subaccountJson(v);
  }

  @Endpoint(ROUTES.createSubaccount, 201)
  async create(@ValidBody() body: z.output<typeof createSubaccountInput>, @CurrentPrincipal() who: Principal) {
    const { token } = await this.createSubaccount.execute({ providerAccount: this.providerAccount, ...body, actor: who.actor });
    return subaccountJson((await this.subaccounts.get(this.providerAccount, token))!);
  }

  @Endpoint(ROUTES.importSubaccounts, 200)
  async import(@CurrentPrincipal() who: Principal) {
    return this.importSubaccounts.execute(this.providerAccount, who.actor);
  }
}
