import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { fastifyPath, RouteDef } from '@app/api-contract';
import { DomainError, errorBody } from '@app/common';
import { ApiToken, Config, CONFIG, Role, ROLES } from '@app/config';
import { routeDefOf } from './route-def';

export interface Principal { name: string; role: Role; actor: string }

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * The configured API tokens, kept only as SHA-256 digests and compared in constant time.
 * Throws `unauthorized` for a missing, malformed or unknown bearer token.
 */
export class TokenAuthenticator {
  private readonly tokens: Array<{ digest: Buffer; name: string; role: Role }>;

  constructor(tokens: ApiToken[]) {
    this.tokens = tokens.map((t) => ({ digest: digest(t.token), name: t.name, role: t.role }));
  }

  authenticate(header: string | string[] | undefined): Principal {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(typeof header === 'string' ? header : '');
    if (!match) throw new DomainError('unauthorized', 'a bearer token is required (Authorization: Bearer <token>)');
    const presented = digest(match[1]);
    const found = this.tokens.find((t) => timingSafeEqual(t.digest, presented));
    if (!found) throw new DomainError('unauthorized', 'invalid token');
    return { name: found.name, role: found.role, actor: `token:${found.name}/${found.role}` };
  }
}

/**
 * A Fastify onRequest hook: a /v1 request is authenticated, and its role checked, before
 * its body is read, so an unauthenticated or under-privileged caller can neither make the
 * API parse a large body nor learn anything from validation errors. AuthGuard checks again
 * on the Nest side (and sets the principal).
 */
export function authenticateBeforeParsing(auth: TokenAuthenticator, routes: RouteDef[]) {
  const byRoute = new Map(routes.map((r) => [`${r.method} ${fastifyPath(r.path)}`, r]));
  return async (req: { url: string; method: string; routeOptions?: { url?: string }; headers: Record<string, string | string[] | undefined> }, reply: { code(n: number): { send(b: unknown): unknown } }) => {
    // The matched route when there is one (an encoded path such as /%761/... routes to /v1/...).
    const def = req.routeOptions?.url ? byRoute.get(`${req.method} ${req.routeOptions.url}`) : undefined;
    if (def ? def.role === 'public' : !req.url.startsWith('/v1/') && !req.routeOptions?.url?.startsWith('/v1/')) return;
    try {
      const principal = auth.authenticate(req.headers.authorization);
      if (def && def.role !== 'public' && ROLES.indexOf(principal.role) < ROLES.indexOf(def.role)) {
        throw new DomainError('forbidden', `this route requires the ${def.role} role; your token has ${principal.role}`);
      }
    } catch (err) {
      const e = err as DomainError;
      return reply.code(e.status).send(errorBody(e.code, e.message));
    }
  };
}

/**
 * Bearer-token auth with roles viewer < operator < admin, tokens from API_TOKENS. Routes
 * without a route definition are refused: nothing is reachable by accident.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly auth: TokenAuthenticator;

  constructor(@Inject(CONFIG) config: Config) {
    this.auth = new TokenAuthenticator(config.API_TOKENS ?? []);
  }

  canActivate(ctx: ExecutionContext): boolean {
    const def = routeDefOf(ctx.getHandler());
    if (!def) throw new DomainError('not_found', 'no such route');
    if (def.role === 'public') return true;
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; principal?: Principal }>();
    const principal = this.auth.authenticate(req.headers.authorization);
    if (ROLES.indexOf(principal.role) < ROLES.indexOf(def.role)) {
      throw new DomainError('forbidden', `this route requires the ${def.role} role; your token has ${principal.role}`);
    }
    req.principal = principal;
    return true;
  }
}
