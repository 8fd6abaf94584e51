import { readFileSync } from 'node:fs';
import type { ColumnDef, ColumnKind, TableSchema } from '../core/change-event.ts';
import { COLUMN_NAME_ATTRIBUTE, GEOMETRY_NAME } from '../core/avro-types.ts';
import { CdcError } from '../core/errors.ts';
import { escapeRegex } from '../core/name-claims.ts';
import { connectAvroProps } from '../core/connect-types.ts';

type AvroSchema = Record<string, unknown> | string | unknown[];

const schemasDir = new URL('../../schemas/', import.meta.url);
export const SOURCE_SCHEMA = JSON.parse(readFileSync(new URL('source.avsc', schemasDir), 'utf8')) as Record<string, unknown>;
export const ENVELOPE_TEMPLATE = JSON.parse(readFileSync(new URL('envelope.template.avsc', schemasDir), 'utf8')) as {
  fields: Array<Record<string, unknown>>;
  doc: string;
};

/**
 * GEOMETRY columns, in the shape of Debezium's `io.debezium.data.geometry.Geometry`: the WKB and
 * the SRID. The SRID is a `long` (Debezium: an optional int) because the server allows any
 * unsigned 32-bit SRID, and it is never null: MariaDB stores 0 for "none".
 */
const GEOMETRY_RECORD = {
  type: 'record',
  name: 'Geometry',
  namespace: 'io.debezium.data.geometry',
  doc: 'Geometry as OGC WKB (the exact subtype of the value and of each collection member) and its SRID (0: none)',
  fields: [
    { name: 'wkb', type: 'bytes' },
    { name: 'srid', type: 'long' },
  ],
};

/**
 * Avro type of each column kind; logical types carry exactness (see core/avro-types.ts), and
 * Connect's annotations (`connect.name`, …) give a Connect sink with an Avro converter the same
 * Connect types as Debezium's topics (core/connect-types.ts). A named type may be defined only
 * once per schema: `named` holds those already defined, and later uses refer to them by name.
 */
function avroTypeOf(column: ColumnDef, named: Set<string>): AvroSchema {
  const type = avroBaseTypeOf(column, named);
  const props = connectAvroProps(column);
  if (Object.keys(props).length === 0) return type;
  return typeof type === 'string' ? { type, ...props } : { ...(type as Record<string, unknown>), ...props };
}

function avroBaseTypeOf(column: ColumnDef, named: Set<string>): AvroSchema {
  const byKind: Record<ColumnKind, AvroSchema> = {
    int32: 'int',
    int64: 'long',
    decimal: { type: 'bytes', logicalType: 'decimal', precision: column.precision ?? 65, scale: column.scale ?? 0 },
    float32: 'float',
    float64: 'double',
    boolean: 'boolean',
    string: 'string',
    bytes: 'bytes',
    date: { type: 'int', logicalType: 'date' },
    time: { type: 'long', logicalType: 'time-micros' },
    datetime: { type: 'long', logicalType: 'local-timestamp-micros' },
    timestamp: { type: 'long', logicalType: 'timestamp-micros' },
    json: { type: 'string', logicalType: 'json' },
    geometry: GEOMETRY_RECORD,
  };
  if (column.kind !== 'geometry') return byKind[column.kind];
  if (named.has(GEOMETRY_NAME)) return GEOMETRY_NAME;
  named.add(GEOMETRY_NAME);
  return GEOMETRY_RECORD;
}

/**
 * Avro names allow only [A-Za-z0-9_] and no leading digit. Column names that break that rule are
 * adjusted like Debezium's `field.name.adjustment.mode=avro` (invalid characters become `_`);
 * two columns that would collide are a coded error rather than a silent merge.
 */
export function avroName(name: string): string {
  const adjusted = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(adjusted) ? `_${adjusted}` : adjusted;
}

function recordOf(name: string, namespace: string, table: TableSchema, columns: ColumnDef[]): Record<string, unknown> {
  const seen = new Map<string, string>();
  const named = new Set<string>();
  const fields = columns.map((column) => {
    const field = avroName(column.name);
    const clash = seen.get(field);
    if (clash !== undefined) {
      const qualified = `${table.database}.${table.table}`;
      throw new CdcError('NAME_COLLISION', `Columns ${JSON.stringify(clash)} and ${JSON.stringify(column.name)} of ${qualified} both map to the Avro field ${field}`, {
        hint: `Rename one of them with a source rename transform (TRANSFORMS=fix, TRANSFORMS_FIX_TYPE=rename, TRANSFORMS_FIX_TABLES=${escapeRegex(qualified)}, TRANSFORMS_FIX_RENAMES=${column.name}:<new name>), leave one out (COLUMN_EXCLUDE), or rename the column in MariaDB; then restart the source.`,
        details: { table: qualified, columns: [clash, column.name], field },
      });
    }
    seen.set(field, column.name);
    const type = avroTypeOf(column, named);
    // The column's own name, where the field's had to differ: the sink indexes under it.
    const original = field === column.name ? {} : { [COLUMN_NAME_ATTRIBUTE]: column.name };
    return column.optional ? { name: field, type: ['null', type], default: null, ...original } : { name: field, type, ...original };
  });
  return { type: 'record', name, namespace, fields };
}

export function avroNamespace(prefix: string, table: TableSchema): string {
  return [prefix, table.database, table.table].map(avroName).join('.');
}

/** Key schema: the primary key columns, or null for keyless tables. */
export function keySchema(prefix: string, table: TableSchema): Record<string, unknown> | null {
  if (table.key.length === 0) return null;
  const keyColumns = table.key.map((name) => table.columns.find((c) => c.name === name)!);
  return recordOf(
    'Key',
    avroNamespace(prefix, table),
    table,
    keyColumns.map((c) => ({ ...c, optional: false })),
  );
}

/** Value schema of unwrapped (flat) records: the table's Value record alone. */
export function flatValueSchema(prefix: string, table: TableSchema): Record<string, unknown> {
  return recordOf('Value', avroNamespace(prefix, table), table, table.columns);
}

/** Envelope schema: the template around the table's Value record and the fixed Source block. */
export function envelopeSchema(prefix: string, table: TableSchema): Record<string, unknown> {
  const namespace = avroNamespace(prefix, table);
  const value = recordOf('Value', namespace, table, table.columns);
  const fields = ENVELOPE_TEMPLATE.fields.map((field) => {
    if (field.name === 'before') return { ...field, type: ['null', value] };
    if (field.name === 'after') return { ...field, type: ['null', `${namespace}.Value`] };
    if (field.name === 'source') return { ...field, type: SOURCE_SCHEMA };
    return field;
  });
  return { type: 'record', name: 'Envelope', namespace, doc: ENVELOPE_TEMPLATE.doc, fields };
}

/**
 * The columns whose Avro field differs between two versions of a subject (envelope or key):
 * `name: old → new`, `name: added`, `name: dropped`. Names what an operator must look at when the
 * registry refuses a version.
 */
export function changedColumns(previous: Record<string, unknown>, next: Record<string, unknown>): string[] {
  const fieldsOf = (schema: Record<string, unknown>) => {
    const fields = schema.fields as Array<{ name: string; type: unknown }>;
    const before = fields.find((f) => f.name === 'before');
    const row = before && Array.isArray(before.type) ? (before.type[1] as { fields: Array<{ name: string; type: unknown }> }) : { fields };
    return new Map(row.fields.map((f) => [f.name, JSON.stringify(f.type)]));
  };
  const old = fieldsOf(previous);
  const now = fieldsOf(next);
  const changes: string[] = [];
  for (const [name, type] of now) {
    const was = old.get(name);
    if (was === undefined) changes.push(`${name}: added`);
    else if (was !== type) changes.push(`${name}: ${was} → ${type}`);
  }
  for (const name of old.keys()) if (!now.has(name)) changes.push(`${name}: dropped`);
  return changes;
}
