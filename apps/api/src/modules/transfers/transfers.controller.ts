import { Controller, Headers, Inject, Res } from '@nestjs/common';
import { z } from 'zod';
import { batchItemInput, idempotencyKey, ROUTES, resolveTransferInput, transferInput, transferListQuery } from '@app/api-contract';
import { Cursors, DomainError, fetchSize, pageOf } from '@app/common';
import { Config, CONFIG } from '@app/config';
import { BatchItem, EvidenceQueries, RecordTransferBatchUseCase, RecordTransferUseCase, ResolveTransferUseCase, transferJson, TransfersRepository } from '@app/transfers';
import { Principal } from '../../core/auth.guard';
import { Endpoint, ValidBody, ValidParam, ValidQuery, validate } from '../../core/endpoint.decorator';
import { CurrentPrincipal, RequestId } from '../../core/principal.decorator';

type Reply = { status(code: number): Reply };

@Controller()
export class TransfersController {
  private readonly itemSchema: ReturnType<typeof batchItemInput>;

  private readonly providerAccount: string;

  constructor(
    @Inject(CONFIG) config: Config,
    private readonly recordTransfer: RecordTransferUseCase,
    private readonly recordTransferBatch: RecordTransferBatchUseCase,
    private readonly resolveTransfer: ResolveTransferUseCase,
    private readonly transfers: TransfersRepository,
    private readonly evidence: EvidenceQueries,
  ) {
    this.providerAccount = config.PROVIDER_ACCOUNT;
    this.itemSchema = batchItemInput(config.TRANSFER_MAX_AMOUNT);
  }

  @Endpoint(ROUTES.createTransfer)
  async create(
    @ValidBody() body: z.output<ReturnType<typeof transferInput>>,
    @Headers('idempotency-key') key: string | undefined,
    @CurrentPrincipal() who: Principal,
    @RequestId() requestId: string,
    @Res({ passthrough: true }) reply: Reply,
  ) {
    const idem = key === undefined ? undefined : validate(idempotencyKey, key, 'Idempotency-Key');
    const { transfer, replayed } = await this.recordTransfer.execute({
      providerAccount: this.providerAccount, ...body, idempotencyKey: idem, actor: who.actor, correlationId: requestId,
    });
    reply.status(replayed ? 200 : 202);
    return transferJson(transfer);
  }

  @Endpoint(ROUTES.createTransferBatch, 207)
  async batch(@ValidBody() body: { transfers: unknown[] }, @CurrentPrincipal() who: Principal, @RequestId() requestId: string) {
    const items: BatchItem[] = body.transfers.map((raw, index) => {
      try {
        const item = validate(this.itemSchema, raw, `transfers.${index}`);
        const { idempotencyKey: key, ...rest } = item;
        return { index, command: { providerAccount: this.providerAccount, ...rest, idempotencyKey: key, actor: who.actor, correlationId: requestId } };
      } catch (err) {
        return { index, error: err as DomainError };
      }
    });
    const results = await this.recordTransferBatch.execute(items);
    return {
      results: results.map((r) => ({ index: r.index, status: r.status, ...(r.transfer ? { transfer: transferJson(r.transfer) } : {}), ...(r.error ? { error: r.error } : {}) })),
    };
  }

  @Endpoint(ROUTES.listTransfers)
  async list(@ValidQuery() q: z.output<typeof transferListQuery>) {
    const rows = await this.transfers.list({
      providerAccount: this.providerAccount, status: q.status, subaccount: q.subaccount, direction: q.direction,
      from: q.from, to: q.to, reference: q.reference, afterSeq: q.cursor === undefined ? undefined : Cursors.sequence.decode(q.cursor), limit: fetchSize(q.limit),
    });
    const page = rows.slice(0, q.limit);
    const evidence = await this.evidence.evidenceOfMany(page.filter((t) => t.status === 'in_doubt' || t.resolution).map((t) => t.id));
    return pageOf(rows, q.limit, (last) => Cursors.sequence.encode(last.seq), (t) => transferJson(t, evidence.get(t.id) ?? null));
  }

  @Endpoint(ROUTES.getTransfer)
  async get(@ValidParam('id') id: string) {
    const t = await this.transfers.get(this.providerAccount, id);
    if (!t) throw new DomainError('transfer_not_found', `transfer ${id} does not exist`);
    return transferJson(t, await this.evidence.evidenceOf(t.id));
  }

  @Endpoint(ROUTES.resolveTransfer, 200)
  async resolve(@ValidParam('id') id: string, @ValidBody() body: z.output<typeof resolveTransferInput>, @CurrentPrincipal() who: Principal) {
    const t = await this.resolveTransfer.execute({ providerAccount: this.providerAccount, transferId: id, outcome: body.outcome, reason: body.reason, actor: who.actor });
    return transferJson(t, await this.evidence.evidenceOf(t.id));
  }
}
