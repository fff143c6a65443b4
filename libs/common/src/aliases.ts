/**
 * Resolves the `@app/<lib>` aliases at run time for the compiled code in dist/ (tsc does not
 * rewrite them). Every process entry point imports this file first, by relative path.
 * `@app/<lib>/module` is the lib's Nest module, kept out of its index (Nest 12 is ESM-only
 * and Jest, which loads the indexes, cannot require it). `@app/topups/schedule` is the top-ups
 * schedule rules alone (pure), for the API contract, which must not load the top-ups feature.
 * `@app/subaccounts/store` is the sub-accounts' tables alone, which transfers need
 * without the sub-accounts feature (that one needs transfers). The same entries are in tsconfig.json.
 */
import { join } from 'node:path';
import { register } from 'tsconfig-paths';

const NEST_MODULES: Record<string, string> = {
  common: 'queues.module', config: 'config.module', persistence: 'persistence.module', provider: 'provider.module',
  reconciliation: 'reconciliation.module', subaccounts: 'subaccounts.module', topups: 'topups.module', transfers: 'transfers.module', webhooks: 'webhooks.module',
};

const root = join(__dirname, '..', '..', '..');
const paths: Record<string, string[]> = {
  '@app/*': ['libs/*/src'],
  '@app/topups/schedule': ['libs/topups/src/domain/schedule'],
  '@app/subaccounts/store': ['libs/subaccounts/src/subaccounts-store.module'],
};
for (const [lib, file] of Object.entries(NEST_MODULES)) paths[`@app/${lib}/module`] = [`libs/${lib}/src/${file}`];
register({ baseUrl: root, paths });
