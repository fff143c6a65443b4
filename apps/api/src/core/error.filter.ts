import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import { DomainError, ErrorCode, ErrorCodes, errorBody, Logger, scrubText } from '@app/common';
import { Config, CONFIG, LOGGER } from '@app/config';
import { isDatabaseUnavailable, pgCode } from '@app/persistence';

/**
 * The one place Nest's error responses are decided, in the one body (`errorBody`, libs/common):
 * `{ error: { code, message, details } }`.
 * A client's mistake never becomes a 500; an unexpected error is logged (secrets scrubbed)
 * and answered without internals.
 */
/** invalid byte sequence / character not in repertoire (22021), untranslatable character (22P05). */
const UNSTORABLE_TEXT_SQLSTATES = new Set(['22021', '22P05']);

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(@Inject(CONFIG) private readonly config: Config, @Inject(LOGGER) private readonly logger: Logger) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<{ status(n: number): { send(b: unknown): void }; sent?: boolean }>();
    const req = host.switchToHttp().getRequest<{ id?: string; method?: string; url?: string }>();
    const body = this.toBody(err, req);
    if (reply.sent) return;
    reply.status(body.status).send(errorBody(body.code, body.message, body.details));
  }

  private toBody(err: unknown, req: { id?: string; method?: string; url?: string }): { status: number; code: ErrorCode; message: string; details?: unknown } {
    if (err instanceof DomainError) return { status: err.status, code: err.code, message: err.message, details: err.details };
    const fastifyStatus = (err as { statusCode?: number }).statusCode;
    if (err instanceof HttpException || (typeof fastifyStatus === 'number' && fastifyStatus >= 400 && fastifyStatus < 500)) {
      const status = err instanceof HttpException ? err.getStatus() : fastifyStatus!;
      const code: ErrorCode = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : 'validation_failed';
      const message = status === 404 ? `no route ${req.method} ${String(req.url ?? '').split('?')[0]}` : (err as Error).message;
      return { status: status === 404 || status === 413 || status === 401 || status === 403 ? status : 400, code, message: this.scrub(message) };
    }
    // Text Postgres cannot store (NUL, an unpaired surrogate): the contract refuses it first
    // (storableString); should some field slip through, it is still the client's input, not a 500.
    if (UNSTORABLE_TEXT_SQLSTATES.has(pgCode(err) ?? '')) {
      this.logger.warn({ reqId: req.id, err: this.scrub(String((err as Error).message)) }, 'unstorable text reached the database');
      return { status: 400, code: 'validation_failed', message: 'the request holds text that cannot be stored (NUL characters or unpaired surrogates)' };
    }
    if (isDatabaseUnavailable(err)) {
      this.logger.error({ reqId: req.id, err: this.scrub(String((err as Error).message)) }, 'database unavailable');
      return { status: ErrorCodes.service_unavailable, code: 'service_unavailable', message: 'the database is unavailable; try again (with the same Idempotency-Key, a retry never records twice)' };
    }
    this.logger.error({ reqId: req.id, err: this.scrub(String((err as Error)?.stack ?? err)) }, 'unexpected error');
    return { status: 500, code: 'internal_error', message: `unexpected error (request ${req.id ?? '?'})` };
  }

  private scrub(text: string): string {
    const c = this.config;
    return scrubText(text, [c.SMSPARTNER_API_KEY, ...(c.API_TOKENS ?? []).map((t) => t.token)]);
  }
}
