/**
 * Resolves the `@app/<lib>` aliases at run time for the compiled code in dist/ (tsc does not
 * rewrite them). Every process entry point imports this file first, by relative path.
 */
import { join } from 'node:path';
import { register } from 'tsconfig-paths';

const root = join(__dirname, '..', '..', '..');
register({ baseUrl: root, paths: { '@app/*': ['libs/*/src'] } });
