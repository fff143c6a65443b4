// Lints an OpenAPI document (a JSON file, argv[2]) with Redocly's recommended ruleset and
// prints the problems as JSON. A separate process: @redocly/openapi-core is ESM-only, which
// Jest cannot load on Node 20.
import { readFileSync } from 'node:fs';
import { createConfig, lintFromString } from '@redocly/openapi-core';

const source = readFileSync(process.argv[2], 'utf8');
const config = await createConfig({ extends: ['recommended'] });
const problems = await lintFromString({ source, absoluteRef: 'openapi.json', config });
process.stdout.write(JSON.stringify(problems.map((p) => ({
  rule: p.ruleId, severity: p.severity, message: p.message, where: p.location?.[0]?.pointer ?? null,
}))));
