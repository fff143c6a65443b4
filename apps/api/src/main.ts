import '../../../libs/common/src/aliases';
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply } from 'fastify';
import { Registry } from 'prom-client';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { ALL_ROUTES } from '@app/api-contract';
import { bearerMatches, DomainError, errorBody, isStorableText, logContext, scanJson } from '@app/common';
import { Queues } from '@app/common/module';
import { loadConfigOrExit, processContext } from '@app/config';
import { AppModule } from './app.module';
import { authenticateBeforeParsing, TokenAuthenticator } from './core/auth.guard';
import { HANDLED_ROUTES } from './core/endpoint.decorator';
import { registerHttpMetrics } from './core/http-metrics';
import { registerDocs } from './modules/operations/docs';
import { registerBullBoard } from './modules/admin/bull-board';
import { registerDashboard } from './modules/dashboard/dashboard.static';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('api', ['API_TOKENS']);
  const ctx = processContext(config, 'api');
  const adapter = new FastifyAdapter({
    bodyLimit: 5 * 1024 * 1024,
    // Path parameters up to the longest the contract accepts (sub:<128-character token>).
    routerOptions: { maxParamLength: 200 },
    // Errors of Fastify's router (malformed URL encoding, parameter too long) in our error shape.
    frameworkErrors: (err: FastifyError, _req: unknown, reply: FastifyReply) => {
      void reply.code(400).send(errorBody('validation_failed', `invalid URL: ${err.message}`));
    },
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    },
    loggerInstance: ctx.logger,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(ctx), adapter, { logger: ['error', 'warn'], bodyParser: false });
  const fastify = app.getHttpAdapter().getInstance();
  // JSON bodies: a number written with an exponent (1e3) is refused rather than silently
  // converted (money must be written plainly), and so is a key given twice in one object
  // (JSON.parse would keep the last: {"amount":"-1","amount":"5"} must not read as 5).
  // The check is the scanner that already reads every literal (libs/common/json-literals.ts).
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(new DomainError('validation_failed', 'a JSON body is required'), undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return done(new DomainError('validation_failed', 'the body is not valid JSON'), undefined);
    }
    let scan: ReturnType<typeof scanJson>;
    try {
      scan = scanJson(text);
    } catch {
      // JSON.parse accepted it, the (recursive) literal scanner did not: nesting too deep.
      return done(new DomainError('validation_failed', 'the body is nested too deeply'), undefined);
    }
    if (scan.duplicateKey !== null) {
      return done(new DomainError('validation_failed', `${printablePath(scan.duplicateKey) || 'body'}: a key appears twice in one object`), undefined);
    }
    for (const [path, literal] of scan.literals) {
      if (/[eE]/.test(literal)) return done(new DomainError('validation_failed', `${printablePath(path) || 'body'}: numbers must be written without an exponent`), undefined);
    }
    done(null, parsed);
  });
  fastify.addHook('onSend', async (req, reply) => { reply.header('x-request-id', req.id); });
  // With METRICS_TOKEN set, /metrics needs it (the route stays outside the /v1 roles).
  const metricsToken = config.METRICS_TOKEN;
  if (metricsToken) {
    fastify.addHook('onRequest', async (req, reply) => {
      if (req.url.split('?')[0] !== '/metrics' || bearerMatches(req.headers.authorization, metricsToken)) return;
      return reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('unauthorized', '/metrics requires Authorization: Bearer <METRICS_TOKEN>'));
    });
  }
  registerHttpMetrics(fastify, app.get(Registry));
  fastify.addHook('onRequest', authenticateBeforeParsing(new TokenAuthenticator(config.API_TOKENS ?? []), ALL_ROUTES));
  // Our own log lines (use cases) written while serving a request carry its reqId, like
  // Fastify's request lines. Entered after the body is read: the stream's events would
  // otherwise run outside the context.
  fastify.addHook('preValidation', (req, _reply, done) => logContext.run({ reqId: String(req.id) }, done));

  const missing = ALL_ROUTES.filter((r) => !HANDLED_ROUTES.has(r)).map((r) => `${r.method} ${r.path}`);
  if (missing.length) throw new Error(`routes in the contract without a handler: ${missing.join(', ')}`);

  registerDocs(fastify, process.env.npm_package_version ?? '0.1.0');
  registerDashboard(fastify);
  registerBullBoard(fastify, config.API_TOKENS ?? [], app.get(Queues));

  // SIGTERM/SIGINT close the application: Nest's hooks close the queues, Redis and the pool.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  await app.listen(config.PORT, config.HOST);
  ctx.logger.info({ port: config.PORT, host: config.HOST }, `credit-ledger api listening on http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT} (docs at /docs)`);
}

/** A path for an error message: a key holding NUL or a lone surrogate is shown escaped. */
function printablePath(path: string): string {
  return isStorableText(path) ? path : JSON.stringify(path);
}

void bootstrap().catch((err) => {
  process.stderr.write(`credit-ledger api failed to start: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
