import { schemaFingerprint, type ColumnDef, type TableSchema } from '../core/change-event.ts';
import { columnDef, type BinlogColumn } from './column-types.ts';

/**
 * Derives a table's schema from what the TableMap event carries. With binlog_row_metadata=FULL
 * that is names, types, signedness, enum/set values and the primary key, so there is no DDL parser
 * and no schema history to lose. The binlog does not carry nullability, so every non-key column
 * is optional: that also keeps every added or dropped column a BACKWARD-compatible change.
 */
export function deriveTableSchema(
  database: string,
  table: string,
  columns: BinlogColumn[],
  typeCodes: number[],
  primaryKey: number[] | undefined,
): TableSchema {
  const keyIndexes = new Set(primaryKey ?? []);
  const defs: ColumnDef[] = columns.map((column, i) => columnDef(`${database}.${table}`, column, typeCodes[i], !keyIndexes.has(i)));
  const key = (primaryKey ?? []).map((i) => defs[i]!.name);
  return { database, table, columns: defs, key, fingerprint: schemaFingerprint(defs, key) };
}

/** Caches schemas by table id and metadata so each TableMap costs one lookup, not a derivation. */
export class TableSchemaCache {
  readonly #byKey = new Map<string, TableSchema>();

  get(database: string, table: string, columns: BinlogColumn[], typeCodes: number[], primaryKey: number[] | undefined): TableSchema {
    const cacheKey = `${database}\u0000${table}\u0000${typeCodes.join(',')}\u0000${(primaryKey ?? []).join(',')}\u0000${columns
      .map((c) => `${c.COLUMN_NAME}:${c.COLUMN_TYPE}:${c.UNSIGNED ?? ''}:${(c.ENUM_VALUES ?? c.SET_VALUES ?? []).join('\u0001')}`)
      .join('\u0002')}`;
    let schema = this.#byKey.get(cacheKey);
    if (!schema) {
      schema = deriveTableSchema(database, table, columns, typeCodes, primaryKey);
      this.#byKey.set(cacheKey, schema);
    }
    return schema;
  }
}
