import type { ColumnDef, TableSchema } from '../core/change-event.ts';
import { columnTransform, keep, qualifiedName, transformError, type ColumnPlan, type Transform } from './transform.ts';

/**
 * Kafka Connect's ReplaceField (exclude): removes the columns whose name fully matches one of
 * `fields`. On the source a key column cannot be dropped (the Kafka key is built from it); on the
 * sink it can, since the document id comes from the record's key.
 */
export function dropFields(name: string, fields: RegExp[], keyFromRow: boolean): Transform {
  return columnTransform((schema) => {
    const dropped = (c: ColumnDef) => fields.some((re) => re.test(c.name));
    if (!schema.columns.some(dropped)) return null;
    const key = schema.key.filter((k) => !fields.some((re) => re.test(k)));
    if (keyFromRow && key.length !== schema.key.length) {
      throw transformError(
        `transform ${name} on ${qualifiedName(schema)}`,
        'would drop a key column',
        'The source builds the Kafka key from the key columns: hash it instead (COLUMN_HASH) or narrow FIELDS.',
      );
    }
    return { columns: schema.columns.filter((c) => !dropped(c)).map(keep), key };
  });
}

/** Kafka Connect's ReplaceField (renames): `old:new` pairs; key columns are renamed in the key too. */
export function renameFields(name: string, renames: Map<string, string>): Transform {
  return columnTransform((schema) => {
    if (!schema.columns.some((c) => renames.has(c.name))) return null;
    const columns = schema.columns.map((def): ColumnPlan => {
      const to = renames.get(def.name);
      if (to === undefined) return keep(def);
      const from = def.name;
      return { def: { ...def, name: to }, value: (row) => row[from] ?? null };
    });
    assertDistinct(name, schema, columns);
    return { columns, key: schema.key.map((k) => renames.get(k) ?? k) };
  });
}

export interface InsertOptions {
  staticField?: string | undefined;
  staticValue?: string | undefined;
  timestampField?: string | undefined;
  positionField?: string | undefined;
}

/**
 * Kafka Connect's InsertField: adds a static string, the change's commit time on the source (a
 * `timestamp` column, like Connect's record timestamp) and/or its source position
 * (`file:pos#row`, a string) to both row images. Added columns are optional, so adding them is a
 * BACKWARD-compatible schema change.
 */
export function insertFields(name: string, options: InsertOptions): Transform {
  const added: ColumnPlan[] = [];
  const column = (field: string, kind: ColumnDef['kind'], sqlType: string): ColumnDef => ({ name: field, kind, sqlType, optional: true });
  if (options.staticField) {
    const value = options.staticValue ?? '';
    added.push({ def: column(options.staticField, 'string', 'static'), value: () => value });
  }
  if (options.timestampField) added.push({ def: column(options.timestampField, 'timestamp', 'commit time'), value: (_row, event) => new Date(event.tsMs).toISOString().replace('Z', '000Z') });
  if (options.positionField) added.push({ def: column(options.positionField, 'string', 'source position'), value: (_row, event) => event.position.toString() });
  return columnTransform((schema) => {
    const columns = [...schema.columns.map(keep), ...added];
    assertDistinct(name, schema, columns);
    return { columns, key: schema.key };
  });
}

function assertDistinct(name: string, schema: TableSchema, columns: ColumnPlan[]): void {
  const seen = new Set<string>();
  for (const { def } of columns) {
    if (seen.has(def.name)) throw transformError(`transform ${name} on ${qualifiedName(schema)}`, `two columns would be named ${def.name}`, 'Choose a field name the table does not have.');
    seen.add(def.name);
  }
}
