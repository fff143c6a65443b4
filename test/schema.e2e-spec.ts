import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testDatabase } from './support/db';

/**
 * Nothing diffs schema.prisma against the hand-written migrations automatically (Prisma's
 * migrate engine cannot be downloaded here), so this test does: every model is a table and
 * every table a model; every field a column of the same type and nullability, and back.
 */
interface Field { model: string; name: string; column: string; type: string; optional: boolean; attrs: string }
interface Model { name: string; table: string; fields: Field[] }

export function parsePrismaSchema(text: string): Model[] {
  const models: Model[] = [];
  for (const m of text.matchAll(/^model\s+(\w+)\s*\{([\s\S]*?)^\}/gm)) {
    const [, name, body] = m;
    const table = /@@map\("([^"]+)"\)/.exec(body)?.[1] ?? name;
    const fields: Field[] = [];
    for (const line of body.split('\n').map((l) => l.replace(/\/\/.*$/, '').trim())) {
      if (!line || line.startsWith('@@')) continue;
      const f = /^(\w+)\s+(\w+)(\?|\[\])?\s*(.*)$/.exec(line);
      if (!f) continue;
      const [, fname, type, modifier, attrs] = f;
      fields.push({ model: name, name: fname, column: /@map\("([^"]+)"\)/.exec(attrs)?.[1] ?? fname, type, optional: modifier === '?', attrs });
    }
    models.push({ name, table, fields });
  }
  return models;
}

/** The Postgres type a field must have, as information_schema spells it. */
function expectedType(f: Field): string {
  const db = /@db\.(\w+)(?:\(([^)]*)\))?/.exec(f.attrs);
  switch (f.type) {
    case 'String': return db?.[1] === 'Uuid' ? 'uuid' : 'text';
    case 'Int': return 'integer';
    case 'BigInt': return 'bigint';
    case 'Boolean': return 'boolean';
    case 'Json': return 'jsonb';
    case 'DateTime': return db?.[1] === 'Timestamptz' ? 'timestamp with time zone' : 'timestamp without time zone';
    case 'Decimal': return db?.[1] === 'Decimal' ? `numeric(${db[2].replace(/\s/g, '')})` : 'numeric(65,30)';
    default: return `unsupported prisma type ${f.type}`;
  }
}

describe('prisma/schema.prisma matches the migrated database', () => {
  const models = parsePrismaSchema(readFileSync(join(__dirname, '..', 'prisma', 'schema.prisma'), 'utf8'));
  const db = testDatabase(2);
  let columns: Array<{ table_name: string; column_name: string; data_type: string; is_nullable: string; numeric_precision: number | null; numeric_scale: number | null }>;

  beforeAll(async () => {
    columns = await db.query(
      `SELECT table_name, column_name, data_type, is_nullable, numeric_precision, numeric_scale
         FROM information_schema.columns c
        WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
          AND EXISTS (SELECT 1 FROM information_schema.tables t WHERE t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE')`,
    );
  });
  afterAll(() => db.close());

  it('parses the schema (guards the parser itself)', () => {
    const transfer = models.find((m) => m.name === 'Transfer')!;
    expect(transfer.table).toBe('transfers');
    expect(transfer.fields.find((f) => f.name === 'subaccountToken')).toMatchObject({ column: 'subaccount_token', type: 'String', optional: false });
    expect(transfer.fields.find((f) => f.name === 'providerCredit')).toMatchObject({ column: 'provider_credit', type: 'Decimal', optional: true });
    expect(expectedType(transfer.fields.find((f) => f.name === 'amount')!)).toBe('numeric(20,3)');
  });

  it('has a model for every table and a table for every model', () => {
    const tables = [...new Set(columns.map((c) => c.table_name))].sort();
    expect(models.map((m) => m.table).sort()).toEqual(tables);
  });

  it('has every column with the same type and nullability, and nothing else', () => {
    const problems: string[] = [];
    for (const m of models) {
      const dbCols = new Map(columns.filter((c) => c.table_name === m.table).map((c) => [c.column_name, c]));
      for (const f of m.fields) {
        const c = dbCols.get(f.column);
        if (!c) { problems.push(`${m.table}.${f.column}: in schema.prisma, not in the database`); continue; }
        dbCols.delete(f.column);
        const actual = c.data_type === 'numeric' ? `numeric(${c.numeric_precision},${c.numeric_scale})` : c.data_type;
        if (actual !== expectedType(f)) problems.push(`${m.table}.${f.column}: database ${actual}, schema.prisma ${expectedType(f)}`);
        if ((c.is_nullable === 'YES') !== f.optional) problems.push(`${m.table}.${f.column}: database ${c.is_nullable === 'YES' ? 'nullable' : 'NOT NULL'}, schema.prisma ${f.optional ? 'optional' : 'required'}`);
      }
      for (const extra of dbCols.keys()) problems.push(`${m.table}.${extra}: in the database, not in schema.prisma`);
    }
    expect(problems).toEqual([]);
  });

  it('uses timestamptz for every timestamp', () => {
    expect(columns.filter((c) => c.data_type === 'timestamp without time zone').map((c) => `${c.table_name}.${c.column_name}`)).toEqual([]);
  });
});
