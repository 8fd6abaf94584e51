import { schemaFingerprint, type ColumnDef, type TableSchema } from '../core/change-event.ts';
import { columnDef, ZERO_DATES_DEFAULT, type BinlogColumn, type ZeroDates } from './column-types.ts';
import type { SourceConfig } from '../config/source.ts';
import type mysql from 'mysql2/promise';
import { JsonColumns } from './json-columns.ts';
import { TableKeys } from './table-keys.ts';

/**
 * What the configuration adds to a table's own metadata when its schema is derived: which columns
 * are the key (KEY_COLUMNS, unique indexes) and what zero dates become (ZERO_DATES). The binlog
 * reader and the snapshots derive schemas with the same rules, so a row reads alike on both paths.
 */
export interface SchemaRules {
  keys: TableKeys;
  zeroDates: ZeroDates;
  /** MariaDB's JSON columns (LONGTEXT with a json_valid check). */
  json: JsonColumns;
}

/** The rules a source configuration sets; they need loadSchemaRules() before use. */
export function schemaRules(config: Pick<SourceConfig, 'KEY_COLUMNS' | 'ZERO_DATES' | 'ZERO_DATE_SENTINEL'>): SchemaRules {
  return { keys: new TableKeys(config.KEY_COLUMNS), zeroDates: { mode: config.ZERO_DATES, sentinel: config.ZERO_DATE_SENTINEL }, json: new JsonColumns() };
}

/** Reads what the rules take from information_schema: unique keys and MariaDB JSON columns. */
export async function loadSchemaRules(rules: SchemaRules, conn: mysql.Connection): Promise<void> {
  await rules.keys.load(conn);
  await rules.json.load(conn);
}

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
  zeroDates: ZeroDates = ZERO_DATES_DEFAULT,
  json?: ReadonlySet<string>,
): TableSchema {
  const keyIndexes = new Set(primaryKey ?? []);
  // A MariaDB JSON column is declared `json` but reported as longtext: it is captured as declared.
  const declared = (column: BinlogColumn) => (json?.has(column.COLUMN_NAME) ? { ...column, COLUMN_TYPE: 'json' } : column);
  const defs: ColumnDef[] = columns.map((column, i) => columnDef(`${database}.${table}`, declared(column), typeCodes[i], !keyIndexes.has(i), zeroDates));
  const key = (primaryKey ?? []).map((i) => defs[i]!.name);
  return { database, table, columns: defs, key, fingerprint: schemaFingerprint(defs, key) };
}

/** Caches schemas by table id and metadata so each TableMap costs one lookup, not a derivation. */
export class TableSchemaCache {
  readonly #byKey = new Map<string, TableSchema>();
  readonly #zeroDates: ZeroDates;
  readonly #json: JsonColumns;

  constructor(zeroDates: ZeroDates, json: JsonColumns) {
    this.#zeroDates = zeroDates;
    this.#json = json;
  }

  get(database: string, table: string, columns: BinlogColumn[], typeCodes: number[], primaryKey: number[] | undefined): TableSchema {
    const cacheKey = `${database}\u0000${table}\u0000${typeCodes.join(',')}\u0000${(primaryKey ?? []).join(',')}\u0000${columns
      .map((c) => `${c.COLUMN_NAME}:${c.COLUMN_TYPE}:${c.UNSIGNED ?? ''}:${(c.ENUM_VALUES ?? c.SET_VALUES ?? []).join('\u0001')}`)
      .join('\u0002')}`;
    let schema = this.#byKey.get(cacheKey);
    if (!schema) {
      schema = deriveTableSchema(database, table, columns, typeCodes, primaryKey, this.#zeroDates, this.#json.of(database, table));
      this.#byKey.set(cacheKey, schema);
    }
    return schema;
  }
}
