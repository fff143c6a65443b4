import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { DomainError } from '@app/common';
import { routeDefOf } from './route-def';

type Req = { body?: unknown; query?: Record<string, unknown>; headers: Record<string, string | string[] | undefined> };

/**
 * Input a route does not declare is refused, not ignored: a query parameter on a route
 * without a query schema, a body on a route without a body schema (an empty JSON object
 * `{}` is tolerated as "no body"). A malformed request therefore never reaches a handler
 * that would act on it (POST /v1/reconciliations?dryRun=true must not start a run).
 * Routes with schemas are validated by ValidBody / ValidQuery (strict objects).
 */
@Injectable()
export class DeclaredInputGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    const def = routeDefOf(ctx.getHandler());
    if (!def) return true;
    const req = ctx.switchToHttp().getRequest<Req>();
    if (!def.query && req.query && Object.keys(req.query).length > 0) {
      throw new DomainError('validation_failed', `${def.method} ${def.path} takes no query parameters (got ${Object.keys(req.query).slice(0, 5).map((k) => JSON.stringify(k)).join(', ')})`);
    }
    if (!def.body && hasBody(req)) {
      throw new DomainError('validation_failed', `${def.method} ${def.path} takes no request body`);
    }
    return true;
  }
}

function hasBody(req: Req): boolean {
  const b = req.body;
  if (b === undefined) return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  return !(typeof b === 'object' && b !== null && !Array.isArray(b) && Object.keys(b).length === 0);
}
