import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import { RouteDef } from '@app/api-contract';
import { DomainError } from '@app/common';
import { Role, ROLES } from '@app/config';
import { Services, SERVICES } from '@app/services';
import { ROUTE_DEF } from './endpoint.decorator';

export interface Principal { name: string; role: Role; actor: string }

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Bearer-token auth with roles viewer < operator < admin. Tokens come from API_TOKENS and
 * are kept only as SHA-256 digests, compared in constant time. Routes without a route
 * definition are refused: nothing is reachable by accident.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  private readonly tokens: Array<{ digest: Buffer; name: string; role: Role }>;

  constructor(@Inject(SERVICES) services: Services) {
    this.tokens = (services.config.API_TOKENS ?? []).map((t) => ({ digest: digest(t.token), name: t.name, role: t.role }));
  }

  canActivate(ctx: ExecutionContext): boolean {
    const def = Reflect.getMetadata(ROUTE_DEF, ctx.getHandler()) as RouteDef | undefined;
    if (!def) throw new DomainError('not_found', 'no such route');
    if (def.role === 'public') return true;
    const req = ctx.switchToHttp().getRequest<{ headers: Record<string, string | undefined>; principal?: Principal }>();
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new DomainError('unauthorized', 'a bearer token is required (Authorization: Bearer <token>)');
    const presented = digest(match[1]);
    const found = this.tokens.find((t) => timingSafeEqual(t.digest, presented));
    if (!found) throw new DomainError('unauthorized', 'invalid token');
    if (ROLES.indexOf(found.role) < ROLES.indexOf(def.role)) {
      throw new DomainError('forbidden', `this route requires the ${def.role} role; your token has ${found.role}`);
    }
    req.principal = { name: found.name, role: found.role, actor: `token:${found.name}/${found.role}` };
    return true;
  }
}
