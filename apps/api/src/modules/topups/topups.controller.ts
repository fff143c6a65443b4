import { Controller, Inject } from '@nestjs/common';
import { z } from 'zod';
import { ROUTES, topupPolicyInput, topupPolicyListQuery, topupPolicyPatch, topupRunListQuery } from '@app/api-contract';
import { Config, CONFIG } from '@app/config';
import { CreateTopupPolicyUseCase, DeleteTopupPolicyUseCase, PreviewTopupPolicyUseCase, topupPolicyJson, topupRunJson, TopupsRepository, UpdateTopupPolicyUseCase } from '@app/topups';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidBody, ValidParam, ValidQuery } from '../../core/endpoint.decorator';
import { CurrentPrincipal, RequestId } from '../../core/principal.decorator';

@Controller()
export class TopupsController {
  private readonly providerAccount: string;

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly topups: TopupsRepository,
    private readonly createTopupPolicy: CreateTopupPolicyUseCase,
    private readonly updateTopupPolicy: UpdateTopupPolicyUseCase,
    private readonly deleteTopupPolicy: DeleteTopupPolicyUseCase,
    private readonly previewTopupPolicy: PreviewTopupPolicyUseCase,
  ) {
    this.providerAccount = config.PROVIDER_ACCOUNT;
  }

  @Endpoint(ROUTES.listTopupPolicies)
  async list(@ValidQuery() q: z.output<typeof topupPolicyListQuery>) {
    const page = await this.topups.listPolicies(this.providerAccount, q);
    const now = new Date();
    return { data: page.data.map((p) => topupPolicyJson(p, now)), nextCursor: page.nextCursor };
  }

  @Endpoint(ROUTES.createTopupPolicy, 201)
  async create(@ValidBody() body: z.output<ReturnType<typeof topupPolicyInput>>, @CurrentPrincipal() who: Principal, @RequestId() requestId: string) {
    const p = await this.createTopupPolicy.execute({ providerAccount: this.providerAccount, ...body, actor: who.actor, correlationId: requestId });
    return topupPolicyJson(p, new Date());
  }

  @Endpoint(ROUTES.getTopupPolicy)
  async get(@ValidParam('id') id: string) {
    return topupPolicyJson(await this.topups.getPolicy(this.providerAccount, id), new Date());
  }

  @Endpoint(ROUTES.updateTopupPolicy, 200)
  async update(
    @ValidParam('id') id: string,
    @ValidBody() patch: z.output<ReturnType<typeof topupPolicyPatch>>,
    @CurrentPrincipal() who: Principal,
    @RequestId() requestId: string,
  ) {
    const p = await this.updateTopupPolicy.execute({ providerAccount: this.providerAccount, id, patch, actor: who.actor, correlationId: requestId });
    return topupPolicyJson(p, new Date());
  }

  @Endpoint(ROUTES.deleteTopupPolicy, 200)
  async remove(@ValidParam('id') id: string, @CurrentPrincipal() who: Principal, @RequestId() requestId: string) {
    const p = await this.deleteTopupPolicy.execute({ providerAccount: this.providerAccount, id, actor: who.actor, correlationId: requestId });
    return topupPolicyJson(p, new Date());
  }

  @Endpoint(ROUTES.previewTopupPolicy)
  preview(@ValidParam('id') id: string) {
    return this.previewTopupPolicy.execute(this.providerAccount, id);
  }

  @Endpoint(ROUTES.listTopupRuns)
  async runs(@ValidQuery() q: z.output<typeof topupRunListQuery>) {
    const page = await this.topups.listRuns(this.providerAccount, q);
    return { data: page.data.map(topupRunJson), nextCursor: page.nextCursor };
  }
}
