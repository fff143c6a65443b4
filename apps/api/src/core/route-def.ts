import { RouteDef } from '@app/api-contract';

/** The metadata key under which @Endpoint stores a handler's route definition. */
export const ROUTE_DEF = 'credit-ledger:route';

/** The route definition @Endpoint bound to a handler (undefined: not an endpoint). */
export function routeDefOf(handler: object): RouteDef | undefined {
  return Reflect.getMetadata(ROUTE_DEF, handler) as RouteDef | undefined;
}
