import '../../../libs/common/src/aliases';
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import { NestFactory } from '@nestjs/core';
import type { FastifyError, FastifyReply } from 'fastify';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { ALL_ROUTES } from '@app/api-contract';
import { DomainError, logContext, numberLiterals } from '@app/common';
import { loadConfigOrExit } from '@app/config';
import { createServices } from '@app/services';
import { AppModule } from './app.module';
import { authenticateBeforeParsing, TokenAuthenticator } from './core/auth.guard';
import { HANDLED_ROUTES } from './core/endpoint.decorator';
import { registerHttpMetrics } from './core/http-metrics';
import { registerDocs } from './modules/operations/docs';
import { registerBullBoard } from './modules/admin/bull-board';
import { registerDashboard } from './modules/dashboard/dashboard.static';

async function bootstrap(): Promise<void> {
  const config = loadConfigOrExit('api', ['API_TOKENS']);
  const services = createServices(config, 'api');
  const adapter = new FastifyAdapter({
    bodyLimit: 5 * 1024 * 1024,
    // Path parameters up to the longest the contract accepts (sub:<128-character token>).
    routerOptions: { maxParamLength: 200 },
    // Errors of Fastify's router (malformed URL encoding, parameter too long) in our error shape.
    frameworkErrors: (err: FastifyError, _req: unknown, reply: FastifyReply) => {
      void reply.code(400).send({ error: { code: 'validation_failed', message: `invalid URL: ${err.message}` } });
    },
    genReqId: (req: { headers: Record<string, string | string[] | undefined> }) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    },
    loggerInstance: services.logger,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.with(services), adapter, { logger: ['error', 'warn'], bodyParser: false });
  const fastify = app.getHttpAdapter().getInstance();
  // JSON bodies: a number written with an exponent (1e3) is refused rather than silently
  // converted; money must be written plainly.
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(new DomainError('validation_failed', 'a JSON body is required'), undefined);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return done(new DomainError('validation_failed', 'the body is not valid JSON'), undefined);
    }
    let literals: Map<string, string>;
    try {
      literals = numberLiterals(text);
    } catch {
      // JSON.parse accepted it, the (recursive) literal scanner did not: nesting too deep.
      return done(new DomainError('validation_failed', 'the body is nested too deeply'), undefined);
    }
    for (const [path, literal] of literals) {
      if (/[eE]/.test(literal)) return done(new DomainError('validation_failed', `${path || 'body'}: numbers must be written without an exponent`), undefined);
    }
    done(null, parsed);
  });
  fastify.addHook('onSend', async (req, reply) => { reply.header('x-request-id', req.id); });
  registerHttpMetrics(fastify, services.metrics);
  fastify.addHook('onRequest', authenticateBeforeParsing(new TokenAuthenticator(config.API_TOKENS ?? []), ALL_ROUTES));
  // Our own log lines (use cases) written while serving a request carry its reqId, like
  // Fastify's request lines. Entered after the body is read: the stream's events would
  // otherwise run outside the context.
  fastify.addHook('preValidation', (req, _reply, done) => logContext.run({ reqId: String(req.id) }, done));

  const missing = ALL_ROUTES.filter((r) => !HANDLED_ROUTES.has(r)).map((r) => `${r.method} ${r.path}`);
  if (missing.length) throw new Error(`routes in the contract without a handler: ${missing.join(', ')}`);

  registerDocs(fastify, process.env.npm_package_version ?? '0.1.0');
  registerDashboard(fastify);
  registerBullBoard(fastify, services);

  app.enableShutdownHooks();
  await app.listen(config.PORT, '0.0.0.0');
  services.logger.info({ port: config.PORT }, `credit-ledger api listening on http://127.0.0.1:${config.PORT} (docs at /docs)`);
  const close = async () => {
    await app.close();
    await services.close();
    process.exit(0);
  };
  process.once('SIGTERM', close);
  process.once('SIGINT', close);
}

void bootstrap().catch((err) => {
  process.stderr.write(`credit-ledger api failed to start: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
