import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { Principal } from './auth.guard';

/** The authenticated caller, as the auth guard identified it. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  return ctx.switchToHttp().getRequest<{ principal: Principal }>().principal;
});

/** The request id (also on every log line of the request), used as the correlation id. */
export const RequestId = createParamDecorator((_: unknown, ctx: ExecutionContext): string => {
  return String(ctx.switchToHttp().getRequest<{ id: string }>().id);
});
