import type { ColumnDef } from '../core/change-event.ts';
import { columnTransform, keep, qualifiedName, transformError, type Transform } from './transform.ts';

/** The include/exclude lists of the source (regular expressions, full match). */
export interface SelectionRules {
  DATABASE_INCLUDE?: RegExp[] | undefined;
  DATABASE_EXCLUDE?: RegExp[] | undefined;
  TABLE_INCLUDE?: RegExp[] | undefined;
  TABLE_EXCLUDE?: RegExp[] | undefined;
  COLUMN_INCLUDE?: RegExp[] | undefined;
  COLUMN_EXCLUDE?: RegExp[] | undefined;
}

/** Whether any of `patterns` (full-match regular expressions) matches `name`. */
export const matches = (patterns: RegExp[] | undefined, name: string): boolean => Boolean(patterns?.some((re) => re.test(name)));

/** Whether a table is captured: its database and `database.table` pass both include and exclude lists. */
export function tableSelected(rules: SelectionRules, database: string, table: string): boolean {
  const qualified = `${database}.${table}`;
  if (rules.DATABASE_INCLUDE && !matches(rules.DATABASE_INCLUDE, database)) return false;
  if (matches(rules.DATABASE_EXCLUDE, database)) return false;
  if (rules.TABLE_INCLUDE && !matches(rules.TABLE_INCLUDE, qualified)) return false;
  return !matches(rules.TABLE_EXCLUDE, qualified);
}

/**
 * Drops the columns outside COLUMN_INCLUDE / inside COLUMN_EXCLUDE (over `database.table.column`)
 * from the schema and both row images, before the Avro schema is derived: an excluded column
 * reaches neither Kafka nor the registry. The key is the row's identity in Kafka and
 * Elasticsearch: an include list keeps key columns without naming them, and excluding one
 * explicitly is a coded error naming it.
 */
export function columnSelection(rules: SelectionRules): Transform | undefined {
  const { COLUMN_INCLUDE: include, COLUMN_EXCLUDE: exclude } = rules;
  if (!include && !exclude) return undefined;
  return columnTransform((schema) => {
    const excluded = (column: ColumnDef) => matches(exclude, `${qualifiedName(schema)}.${column.name}`);
    const selected = (column: ColumnDef) => (!include || schema.key.includes(column.name) || matches(include, `${qualifiedName(schema)}.${column.name}`)) && !excluded(column);
    if (schema.columns.every(selected)) return null;
    const droppedKey = schema.key.find((name) => !selected(schema.columns.find((c) => c.name === name)!));
    if (droppedKey !== undefined) {
      throw transformError(
        `COLUMN_INCLUDE/COLUMN_EXCLUDE on ${qualifiedName(schema)}`,
        `the key column ${droppedKey} would be excluded`,
        'Key columns identify the row in Kafka and Elasticsearch and cannot be excluded; hash it instead (COLUMN_HASH) or narrow the expressions.',
      );
    }
    return { columns: schema.columns.filter(selected).map(keep), key: schema.key };
  });
}
