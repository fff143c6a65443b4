import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from '@app/common';
import { Queues } from '@app/common/module';
import { ApiToken, ROLES } from '@app/config';

export const BULL_BOARD_PATH = '/admin/queues';
const COOKIE = 'cl_admin_session';
const SESSION_SECONDS = 12 * 3600;

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The BullMQ dashboard (bull-board) at /admin/queues, for admin tokens only. It is a Fastify
 * plugin, outside Nest's AuthGuard, so an onRequest hook on its prefix enforces the same
 * rule: 401 without a valid credential, 403 for a viewer or operator token.
 *
 * A browser cannot send a bearer header, so an admin token can also be given once, through
 * the login form (POST /admin/queues/login) or `?token=` (redirected away at once), in
 * exchange for a session cookie: `<expiry>.<token index>.<HMAC-SHA256(token, expiry)>`,
 * HttpOnly, SameSite=Strict (which also keeps other sites from posting bull-board's job
 * actions), valid 12 hours. It carries no token, verifies on every API replica without shared
 * state, and stops working when its token is removed from API_TOKENS.
 */
export function registerBullBoard(fastify: FastifyInstance, apiTokens: ApiToken[], queueHandles: Queues): void {
  const tokens = apiTokens.map((t, index) => ({ ...t, index, digest: digest(t.token) }));
  // Closed with the application (Queues closes every queue it opened).
  const queues = queueHandles.openAll();
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter, options: { uiConfig: { boardTitle: 'Credit Ledger queues' } } });

  const byToken = (presented: string) => tokens.find((t) => timingSafeEqual(t.digest, digest(presented)));
  const sign = (token: string, exp: number) => createHmac('sha256', token).update(`bull-board:${exp}`).digest('hex');
  const sessionFor = (t: { token: string; index: number }) => {
    const exp = Math.floor(Date.now() / 1000) + SESSION_SECONDS;
    return `${exp}.${t.index}.${sign(t.token, exp)}`;
  };
  const bySession = (value: string) => {
    const m = /^(\d{1,12})\.(\d{1,4})\.([0-9a-f]{64})$/.exec(value);
    if (!m || Number(m[1]) < Date.now() / 1000) return undefined;
    const t = tokens[Number(m[2])];
    return t && timingSafeEqual(Buffer.from(sign(t.token, Number(m[1]))), Buffer.from(m[3])) ? t : undefined;
  };
  const setCookie = (req: FastifyRequest, reply: FastifyReply, value: string, maxAge: number) => {
    const secure = req.protocol === 'https' || req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
    reply.header('set-cookie', `${COOKIE}=${value}; Path=${BULL_BOARD_PATH}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`);
  };
  const isAdmin = (t: { role: string }) => ROLES.indexOf(t.role as (typeof ROLES)[number]) >= ROLES.indexOf('admin');
  const refuse = (req: FastifyRequest, reply: FastifyReply, status: 401 | 403, message: string) => {
    if (/text\/html/.test(req.headers.accept ?? '')) return reply.code(status).type('text/html; charset=utf-8').send(loginPage(message));
    return reply.code(status).send(errorBody(status === 401 ? 'unauthorized' : 'forbidden', message));
  };

  void fastify.register(async (admin) => {
    admin.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });

    admin.addHook('onRequest', async (req, reply) => {
      const path = req.url.split('?')[0];
      if (path === `${BULL_BOARD_PATH}/login` || path === `${BULL_BOARD_PATH}/logout`) return;
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
      const queryToken = new URLSearchParams(req.url.split('?')[1] ?? '').get('token') ?? undefined;
      const cookie = cookieValue(req.headers.cookie, COOKIE);
      let found;
      if (bearer ?? queryToken) {
        found = byToken((bearer ?? queryToken)!);
        if (!found) return refuse(req, reply, 401, 'invalid token');
      } else if (cookie) {
        found = bySession(cookie);
        if (!found) return refuse(req, reply, 401, 'the session expired or its token was revoked: log in again');
      } else {
        return refuse(req, reply, 401, 'an admin token is required (Authorization: Bearer <token>, or log in)');
      }
      if (!isAdmin(found)) return refuse(req, reply, 403, `the queue dashboard requires the admin role; your token has ${found.role}`);
      if (!bearer && queryToken) {
        // Trade the token in the address bar for a cookie, and take it out of the URL (history, logs).
        const params = new URLSearchParams(req.url.split('?')[1]);
        params.delete('token');
        setCookie(req, reply, sessionFor(found), SESSION_SECONDS);
        return reply.redirect(`${path}${params.size ? `?${params}` : ''}`, 303);
      }
    });

    admin.post('/login', async (req, reply) => {
      const token = String((req.body as Record<string, unknown> | undefined)?.token ?? '');
      const found = token ? byToken(token) : undefined;
      if (!found) return refuse(req, reply, 401, 'invalid token');
      if (!isAdmin(found)) return refuse(req, reply, 403, `the queue dashboard requires the admin role; your token has ${found.role}`);
      setCookie(req, reply, sessionFor(found), SESSION_SECONDS);
      return reply.redirect(BULL_BOARD_PATH, 303);
    });

    admin.get('/logout', async (req, reply) => {
      setCookie(req, reply, '', 0);
      return reply.redirect(BULL_BOARD_PATH, 303);
    });

    await admin.register(serverAdapter.registerPlugin());
  }, { prefix: BULL_BOARD_PATH });
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

function loginPage(message: string): string {
  const esc = (t: string) => t.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Credit Ledger queues: log in</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem;width:100%;box-sizing:border-box;margin:.3rem 0}</style></head>
<body><h1>Queue dashboard</h1><p>${esc(message)}</p>
<form method="post" action="${BULL_BOARD_PATH}/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
<button type="submit">Log in</button></form></body></html>`;
}
