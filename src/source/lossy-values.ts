import type { ColumnDef, ColumnValue, TableSchema } from '../core/change-event.ts';

/**
 * Values the server stored that their column's type cannot hold, which both readers (binlog and
 * SELECT) replace in the same way, so snapshot and stream agree:
 * - `enum_error`: an ENUM's error value (index 0, written with strict mode off for a value not in
 *   the list) reads as '' on both paths; counted where '' is not one of the column's own values;
 * - `invalid_utf8`: bytes a utf8mb4 column holds that are not UTF-8 (MariaDB stores an encoded
 *   UTF-16 surrogate, ED A0 80, without a warning) decode to U+FFFD. Both readers hand over
 *   decoded text, so a U+FFFD that is stored as such counts too.
 * Counted per process, table, column and kind, once per row image; source-metrics exports it.
 */
export type LossyKind = 'enum_error' | 'invalid_utf8';

const counts = new Map<string, { table: string; column: string; kind: LossyKind; count: number }>();

/** Whether `value`, as the readers made it, stands for a value its column could not hold. */
export function lossyKind(column: ColumnDef, value: ColumnValue): LossyKind | undefined {
  if (typeof value !== 'string') return undefined;
  if (value === '') return column.symbols && column.sqlType.startsWith('enum') && !column.symbols.includes('') ? 'enum_error' : undefined;
  return (column.kind === 'string' || column.kind === 'json') && value.includes('\uFFFD') ? 'invalid_utf8' : undefined;
}

export function countLossy(schema: TableSchema, column: ColumnDef, kind: LossyKind): void {
  const table = `${schema.database}.${schema.table}`;
  const key = `${table}\u0000${column.name}\u0000${kind}`;
  const entry = counts.get(key);
  if (entry) entry.count++;
  else counts.set(key, { table, column: column.name, kind, count: 1 });
}

/** Every count so far (one entry per table, column and kind: bounded by the captured schemas). */
export function lossyCounts(): Iterable<{ table: string; column: string; kind: LossyKind; count: number }> {
  return counts.values();
}
