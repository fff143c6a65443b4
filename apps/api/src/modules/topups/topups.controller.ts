import { Controller, Inject } from '@nestjs/common';
import { z } from 'zod';
import { ROUTES, topupPolicyInput, topupPolicyListQuery, topupPolicyPatch, topupRunListQuery } from '@app/api-contract';
import { Services, SERVICES } from '@app/services';
import { topupPolicyJson, topupRunJson } from '@app/topups';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidBody, ValidParam, ValidQuery } from '../../core/endpoint.decorator';
import { CurrentPrincipal, RequestId } from '../../core/principal.decorator';

@Controller()
export class TopupsController {
  constructor(@Inject(SERVICES) private readonly s: Services) {}

  @Endpoint(ROUTES.listTopupPolicies)
  async list(@ValidQuery() q: z.output<typeof topupPolicyListQuery>) {
    const page = await this.s.topups.listPolicies(this.s.providerAccount, q);
    const now = new Date();
    return { data: page.data.map((p) => topupPolicyJson(p, now)), nextCursor: page.nextCursor };
  }

  @Endpoint(ROUTES.createTopupPolicy, 201)
  async create(@ValidBody() body: z.output<ReturnType<typeof topupPolicyInput>>, @CurrentPrincipal() who: Principal, @RequestId() requestId: string) {
    const p = await this.s.createTopupPolicy.execute({ providerAccount: this.s.providerAccount, ...body, actor: who.actor, correlationId: requestId });
    return topupPolicyJson(p, new Date());
  }

  @Endpoint(ROUTES.getTopupPolicy)
  async get(@ValidParam('id') id: string) {
    return topupPolicyJson(await this.s.topups.getPolicy(this.s.providerAccount, id), new Date());
  }

  @Endpoint(ROUTES.updateTopupPolicy, 200)
  async update(
    @ValidParam('id') id: string,
    @ValidBody() patch: z.output<ReturnType<typeof topupPolicyPatch>>,
    @CurrentPrincipal() who: Principal,
    @RequestId() requestId: string,
  ) {
    const p = await this.s.updateTopupPolicy.execute({ providerAccount: this.s.providerAccount, id, patch, actor: who.actor, correlationId: requestId });
    return topupPolicyJson(p, new Date());
  }

  @Endpoint(ROUTES.deleteTopupPolicy, 200)
  async remove(@ValidParam('id') id: string, @CurrentPrincipal() who: Principal, @RequestId() requestId: string) {
    const p = await this.s.deleteTopupPolicy.execute({ providerAccount: this.s.providerAccount, id, actor: who.actor, correlationId: requestId });
    return topupPolicyJson(p, new Date());
  }

  @Endpoint(ROUTES.previewTopupPolicy)
  preview(@ValidParam('id') id: string) {
    return this.s.previewTopupPolicy.execute(this.s.providerAccount, id);
  }

  @Endpoint(ROUTES.listTopupRuns)
  async runs(@ValidQuery() q: z.output<typeof topupRunListQuery>) {
    const page = await this.s.topups.listRuns(this.s.providerAccount, q);
    return { data: page.data.map(topupRunJson), nextCursor: page.nextCursor };
  }
}
