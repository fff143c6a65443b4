import { STATUS_CODES } from 'node:http';
import Fastify, { FastifyReply, FastifyRequest } from 'fastify';
import Decimal from 'decimal.js';
import { Money, MoneyFormatError } from '@app/ledger';
import { FaultInjector, FaultRule, FaultRuleError, ProviderRoute } from './faults';
import { CreditRoute, SandboxError, SandboxState, SandboxStateOptions } from './sandbox-state';
import { JsonNumber, toJsonText, toXmlText, WireValue } from './wire';
import { PROVIDER_BODY_TYPE, readProviderBody } from './provider-request';
import { registerSpending } from './spending-routes';
import { registerControlRoutes } from './control-routes';
import { CREATE_ERRORS, CREDIT_ERRORS, PROVIDER_ROUTE_METHODS, SANDBOX_REQUEST_ERRORS } from './provider-errors';
import { collectParams, Params, parseAmount, str, truthy } from './request-params';

export interface SandboxServerOptions extends SandboxStateOptions {
  /** 0 = any free port. */
  port?: number;
  host?: string;
  /**
   * HTTP status of provider error bodies (`success:false`). The docs do not say which status
   * the real provider uses, so clients must cope with 200 (the default) and 4xx alike.
   */
  errorHttpStatus?: number;
  /** Seed of the shared PRNG of probabilistic faults. */
  faultSeed?: number | string;
  /** Use an existing state instead of building one from the seed options. */
  state?: SandboxState;
  /**
   * Code of "invalid API key" on credit add/remove: 10 (default: the GitBook copy and every
   * example error body) or 9 (the English markdown copy's table). Create, /me and list use 10.
   */
  invalidKeyCode?: 9 | 10;
  /**
   * Run the spending clock on a timer (default true). Without it spending still advances at
   * every request and on `state.spending.advance()`: what tests with an injected clock use.
   */
  spendingTimer?: boolean;
}

export interface SandboxServer {
  /** Root URL, e.g. http://127.0.0.1:4010 (control endpoints live under /__sandbox). */
  url: string;
  /** `${url}/v1`: what a provider client uses as base URL. */
  providerBaseUrl: string;
  close(): Promise<void>;
  state: SandboxState;
  faults: FaultInjector;
}

type Fields = { [key: string]: WireValue };
interface Answer { success: boolean; fields: Fields }

const PAGE_SIZE = 20;
const CURRENCY = 'EUR';

const isControlUrl = (url: string) => url === '/__sandbox' || url.startsWith('/__sandbox/') || url.startsWith('/__sandbox?');

const fail = (code: number, message: string): Answer => ({ success: false, fields: { success: false, code, message } });
const ok = (fields: Fields): Answer => ({ success: true, fields: { success: true, code: 200, ...fields } });

export async function createSandboxServer(options: SandboxServerOptions = {}): Promise<SandboxServer> {
  const state = options.state ?? new SandboxState(options);
  const faults = new FaultInjector(options.faultSeed ?? 'sandbox-faults', options.now);
  let errorHttpStatus = options.errorHttpStatus ?? 200;
  const invalidKeyCode = options.invalidKeyCode ?? 10;
  if (invalidKeyCode !== 9 && invalidKeyCode !== 10) throw new SandboxError('invalidKeyCode must be 9 or 10');

  // Faults that hold a request (latency, apply_then_delay) must not keep close() waiting.
  let closing = false;
  const pendingPauses = new Set<() => void>();
  const pause = (ms: number) => new Promise<void>((resolve) => {
    const done = () => { clearTimeout(timer); pendingPauses.delete(done); resolve(); };
    const timer = setTimeout(done, ms);
    pendingPauses.add(done);
  });

  /** A provider-shaped error for a request no call handles (JSON, or XML when `_format=xml`). */
  const requestError = (req: FastifyRequest, reply: FastifyReply, e: { code: number; message: string }) => {
    const xml = String((req.query as Params | undefined)?._format ?? '').toLowerCase() === 'xml';
    const fields: Fields = { success: false, code: e.code, message: e.message };
    if (xml) return reply.code(errorHttpStatus).type('application/xml; charset=utf-8').send(toXmlText(fields));
    return reply.code(errorHttpStatus).type('application/json; charset=utf-8').send(toJsonText(fields));
  };

  const app = Fastify({
    logger: false,
    forceCloseConnections: true,
    // `/v1/me/` is `/v1/me`: a base URL written with a trailing slash must not change the answer.
    routerOptions: { ignoreTrailingSlash: true },
    // Bytes Node's HTTP parser cannot read (e.g. what follows a body longer than its
    // Content-Length) get a provider-shaped answer too, then the connection closes.
    clientErrorHandler: (err: Error & { code?: string }, socket) => {
      if (err.code === 'ECONNRESET' || socket.destroyed) return;
      // A request on this connection is still being answered (the bad bytes came after its
      // body): let that answer out first, then close.
      const inFlight = (socket as unknown as { _httpMessage?: { once(ev: string, f: () => void): void } })._httpMessage;
      if (inFlight) return void inFlight.once('finish', () => socket.end());
      if (socket.writable) {
        const body = toJsonText({ success: false, code: SANDBOX_REQUEST_ERRORS.badRequest.code, message: SANDBOX_REQUEST_ERRORS.badRequest.message });
        socket.write(`HTTP/1.1 ${errorHttpStatus} ${STATUS_CODES[errorHttpStatus] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      }
      socket.destroy();
    },
  });

  // Provider routes read the raw bytes whatever the Content-Type says (see provider-request.ts):
  // the header is replaced before Fastify picks a parser, so no 415 and no framework JSON error.
  app.addHook('onRequest', async (req) => {
    if (isControlUrl(req.url)) return;
    const h = req.raw.headers;
    if (h['content-type'] !== undefined || h['content-length'] !== undefined || h['transfer-encoding'] !== undefined) h['content-type'] = PROVIDER_BODY_TYPE;
  });
  app.addContentTypeParser(PROVIDER_BODY_TYPE, { parseAs: 'buffer' }, (_req, body, done) => {
    done(null, readProviderBody(body as Buffer));
  });
  // Control routes: JSON (Fastify's parser) or a form body.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (!isControlUrl(req.url)) {
      // A request the framework refused (4xx) gets the provider's shape. A fault of the sandbox
      // itself stays a bare 500: a success:false body would tell the client "not applied".
      if ((err.statusCode ?? 500) >= 500) return reply.code(500).type('text/plain; charset=utf-8').send('Internal Server Error');
      return requestError(req, reply, err.code === 'FST_ERR_CTP_BODY_TOO_LARGE' ? SANDBOX_REQUEST_ERRORS.tooLarge : SANDBOX_REQUEST_ERRORS.badRequest);
    }
    const known = err instanceof SandboxError || err instanceof MoneyFormatError || err instanceof FaultRuleError;
    const status = known ? 400 : err.statusCode ?? 500;
    return reply.code(status).send({ error: err.message });
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0].replace(/\/+$/, '');
    if (isControlUrl(req.url)) return reply.code(404).send({ error: `no control route ${req.method} ${path}` });
    const methods = PROVIDER_ROUTE_METHODS[path];
    if (methods) void reply.header('allow', methods.join(', '));
    return requestError(req, reply, methods ? SANDBOX_REQUEST_ERRORS.methodNotAllowed : SANDBOX_REQUEST_ERRORS.notFound);
  });

  // ------------------------------------------------------------ provider routes

  /** Runs one provider call through the fault injector, then answers JSON or XML. */
  async function providerCall(route: ProviderRoute, req: FastifyRequest, reply: FastifyReply, handle: (p: Params, faultApplied?: string) => Answer): Promise<void> {
    const p = collectParams(req);
    const xml = String(p._format ?? 'json').toLowerCase() === 'xml';
    const rule: FaultRule | undefined = faults.decide(route);
    const fault = rule?.fault;

    const drop = () => { reply.hijack(); req.raw.socket.destroy(); };
    const send = (answer: Answer) => {
      const status = answer.success ? 200 : errorHttpStatus;
      if (xml) void reply.code(status).type('application/xml; charset=utf-8').send(toXmlText(answer.fields));
      else void reply.code(status).type('application/json; charset=utf-8').send(toJsonText(answer.fields));
    };

    if (fault === 'latency') await pause(rule!.ms ?? 0);
    if (closing) return drop();
    switch (fault) {
      case 'http_429':
        if (rule!.retryAfterSeconds !== undefined) void reply.header('retry-after', String(rule!.retryAfterSeconds));
        return void reply.code(429).type('application/json; charset=utf-8').send('{"message":"Too Many Requests"}');
      case 'http_500':
      case 'http_502':
      case 'http_503': {
        const status = Number(fault.slice(5));
        return void reply.code(status).type('text/plain; charset=utf-8').send(status === 500 ? 'Internal Server Error' : status === 502 ? 'Bad Gateway' : 'Service Unavailable');
      }
      case 'drop_before_apply':
        return drop();
      case 'malformed_body':
        return void reply.code(200).type('application/json; charset=utf-8').send('{"success":true,"code":200,"cred');
      case 'html_error':
        return void reply.code(502).type('text/html; charset=utf-8').send('<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>');
      case 'error_code':
        return send(fail(rule!.code!, rule!.message ?? `Error ${rule!.code}`));
      default:
        break;
    }

    // From here on the call is applied; the fault name goes into the applied-call log.
    const answer = handle(p, fault);
    if (fault === 'apply_then_drop') return drop();
    if (fault === 'apply_then_http_500') return void reply.code(500).type('text/plain; charset=utf-8').send('Internal Server Error');
    if (fault === 'apply_then_delay') {
      await pause(rule!.ms ?? 0);
      if (closing || req.raw.socket.destroyed) return drop();
    }
    if (fault === 'missing_fields' && answer.success) return send({ success: true, fields: { success: true, code: 200 } });
    send(answer);
  }

  app.get('/v1/me', (req, reply) => providerCall('me', req, reply, (p) => {
    // Not in the /me page's table (it lists 10 only); the list page documents 1 for a missing key.
    if (!str(p.apiKey)) return fail(1, CREDIT_ERRORS[1]);
    const main = state.getMain(str(p.apiKey));
    if (!main) return fail(10, CREDIT_ERRORS[10]);
    const bal = main.balance.toFixed();
    const count = (unitPrice: string) => new Decimal(bal).dividedToIntegerBy(unitPrice).toNumber();
    return ok({
      user: { username: main.username, firstname: main.firstname, lastname: main.lastname },
      credits: {
        creditSms: count('0.038'),
        creditSmsLowCost: count('0.023'),
        creditSmsECO: count('0.023'),
        creditHlr: count('0.005'),
        toSend: 0,
        solde: bal,
        currency: CURRENCY,
        balance: bal,
      },
    });
  }));

  app.get('/v1/subaccount/list', (req, reply) => providerCall('list', req, reply, (p) => {
    if (!str(p.apiKey)) return fail(1, CREDIT_ERRORS[1]);
    const main = state.getMain(str(p.apiKey));
    if (!main) return fail(10, CREDIT_ERRORS[10]);
    // Undocumented for list; the docs only say the feature must be enabled. Same code as credit calls.
    if (!main.subaccountsEnabled) return fail(4, CREDIT_ERRORS[4]);
    const pageNum = Number(str(p.page) || '1');
    const page = Number.isInteger(pageNum) && pageNum >= 1 ? pageNum : 1;
    const all = state.subaccountsOf(main.apiKey);
    const slice = all.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
    return ok({
      total: all.length,
      nb_per_page: PAGE_SIZE,
      page,
      data: slice.map((s): WireValue => {
        if (s.listQuirk === 'null_entry') return null;
        const balance: WireValue = s.listQuirk === 'null_balance' ? null : s.listQuirk === 'number_balance' ? JsonNumber.fromMoney(s.balance) : s.balance.toFixed();
        return {
          id: s.id,
          email: s.email,
          type: s.type,
          ...(s.listQuirk === 'no_token' ? {} : { token: s.token }),
          apiKey: s.apiKey,
          createdAt: s.createdAt,
          credits: { balance, currency: CURRENCY },
        };
      }),
    });
  }));

  const create = (req: FastifyRequest, reply: FastifyReply) => providerCall('create', req, reply, (p, fault) => {
    const apiKey = str(p.apiKey);
    if (!apiKey) return fail(1, CREATE_ERRORS[1]);
    const main = state.getMain(apiKey);
    if (!main) return fail(10, CREATE_ERRORS[10]);
    if (!main.subaccountsEnabled) return fail(2, CREATE_ERRORS[2]);
    const type = str(p.type);
    if (!type) return fail(4, CREATE_ERRORS[4]);
    if (type !== 'simple' && type !== 'advanced') return fail(5, CREATE_ERRORS[5]);
    const params = (typeof p.parameters === 'object' && p.parameters !== null ? p.parameters : {}) as Params;
    const email = str(params.email);
    if (!email) return fail(6, CREATE_ERRORS[6]);
    if (type === 'advanced' && (params.isBuyer === undefined || params.isBuyer === null || params.isBuyer === '')) return fail(3, CREATE_ERRORS[3]);
    if (state.emailTaken(email)) return fail(7, CREATE_ERRORS[7]);
    let creditToAttribute: Money | undefined;
    if (params.creditToAttribute !== undefined && params.creditToAttribute !== null && params.creditToAttribute !== '') {
      creditToAttribute = parseAmount(params.creditToAttribute) ?? undefined;
      if (!creditToAttribute) return fail(8, CREATE_ERRORS[8]);
      // Undocumented: we read "balance must be greater than 0" as "main balance cannot cover it".
      if (creditToAttribute.greaterThan(main.balance)) return fail(9, CREATE_ERRORS[9]);
    }
    const sub = state.createSubaccount(apiKey, {
      email,
      type,
      isBuyer: truthy(params.isBuyer),
      ...(params.title !== undefined ? { title: str(params.title) } : {}),
      ...(params.firstname !== undefined ? { firstname: str(params.firstname) } : {}),
      ...(params.lastname !== undefined ? { lastname: str(params.lastname) } : {}),
      ...(creditToAttribute ? { creditToAttribute } : {}),
    }, fault);
    return ok({ subaccount: { email: sub.email, token: sub.token }, sendConfirmMailTo: sub.email, parent_email: main.username });
  });
  // Every example uses POST; one copy of the docs says GET.
  app.post('/v1/subaccount/create', create);
  app.get('/v1/subaccount/create', create);

  const credit = (route: CreditRoute) => (req: FastifyRequest, reply: FastifyReply) => providerCall(route, req, reply, (p, fault) => {
    const apiKey = str(p.apiKey);
    if (!apiKey) return fail(1, CREDIT_ERRORS[1]);
    const main = state.getMain(apiKey);
    if (!main) return fail(invalidKeyCode, CREDIT_ERRORS[invalidKeyCode]);
    if (!main.subaccountsEnabled) return fail(4, CREDIT_ERRORS[4]);
    if (p.credit === undefined || p.credit === null || p.credit === '') return fail(2, CREDIT_ERRORS[2]);
    const token = str(p.tokenSubaccount);
    if (!token) return fail(3, CREDIT_ERRORS[3]);
    const amount = parseAmount(p.credit);
    if (!amount) return fail(5, CREDIT_ERRORS[5]);
    const sub = state.getSub(token);
    if (!sub || sub.parentApiKey !== apiKey) return fail(7, CREDIT_ERRORS[7]);
    const source = route === 'add' ? main.balance : sub.balance;
    if (!source.isPositive()) return fail(6, CREDIT_ERRORS[6]);
    if (amount.greaterThan(source)) return fail(8, CREDIT_ERRORS[8]);
    const entry = state.applyCredit(route, apiKey, token, amount, fault);
    return ok({
      credit: JsonNumber.fromMoney(Money.parse(entry.mainAfter)),
      subaccountCredit: JsonNumber.fromMoney(Money.parse(entry.subAfter)),
      currency: CURRENCY,
    });
  });
  app.post('/v1/subaccount/credit/add', credit('add'));
  app.post('/v1/subaccount/credit/remove', credit('remove'));

  registerControlRoutes(app, state, faults, {
    get: () => errorHttpStatus,
    set: (status) => { errorHttpStatus = status; },
  });

  const spending = registerSpending(app, state, { timer: options.spendingTimer !== false });

  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('sandbox: unexpected listen address');
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `http://${host}:${addr.port}`;

  return {
    url,
    providerBaseUrl: `${url}/v1`,
    state,
    faults,
    async close() {
      closing = true;
      spending.stop();
      for (const release of [...pendingPauses]) release();
      await app.close();
    },
  };
}
