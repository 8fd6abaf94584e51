import type { Type } from 'avsc';
import { schemaFingerprint, type ColumnDef, type ColumnKind, type Row, type TableSchema } from '../core/change-event.ts';
import { columnNamesOf, GEOMETRY_NAME } from '../core/avro-types.ts';

type Mapping = Record<string, unknown>;

/**
 * Elasticsearch field mappings generated from the row's column kinds (read back from the Avro
 * schema, then changed by the sink's transforms), so the index never depends on dynamic guessing
 * (a first value of "12.50" would otherwise map a DECIMAL as text). The document keeps every
 * value exactly in `_source`; the mapping decides how it is searched:
 * - DECIMAL and BIGINT UNSIGNED are indexed as `double` (range queries work, beyond 15–17
 *   significant digits they are approximate; `_source` stays exact). `scaled_float` would be
 *   closer but needs the mapper-extras module, which not every distribution ships.
 * - TIME is a `keyword` (`-838:59:59.000000` has no date meaning).
 * - JSON columns follow JSON_COLUMNS: unindexed (`enabled: false`, any JSON value fits), an
 *   object with dynamic sub-fields, or one `flattened` field.
 * - GEOMETRY is an object: `wkb` (binary), `srid`, and `geojson` as a `geo_shape` (see
 *   document.ts for when it is present). `ignore_malformed`: a shape Elasticsearch refuses (a
 *   self-intersecting polygon, …) leaves the field unindexed instead of sending the row to the
 *   dead-letter topic. Distributions without the spatial module have no `geo_shape`: there the
 *   GeoJSON is kept unindexed (see IndexManager).
 */
const MAPPINGS: Record<ColumnKind, Mapping> = {
  int32: { type: 'integer' },
  int64: { type: 'long' },
  decimal: { type: 'double' },
  float32: { type: 'float' },
  float64: { type: 'double' },
  boolean: { type: 'boolean' },
  string: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } },
  bytes: { type: 'binary' },
  date: { type: 'date', format: 'strict_date' },
  time: { type: 'keyword' },
  datetime: { type: 'date', format: 'strict_date_optional_time' },
  timestamp: { type: 'date', format: 'strict_date_optional_time' },
  json: { type: 'object', enabled: false },
  geometry: geometryMapping({ type: 'geo_shape', ignore_malformed: true }),
};

function geometryMapping(geojson: Mapping): Mapping {
  return { properties: { wkb: { type: 'binary' }, srid: { type: 'long' }, geojson } };
}

/** JSON_COLUMNS: how JSON columns are mapped (the document holds their JSON text verbatim in every mode). */
export type JsonColumns = 'text' | 'object' | 'flattened';

const JSON_MAPPINGS: Record<JsonColumns, Mapping> = {
  text: MAPPINGS.json,
  object: { type: 'object' },
  flattened: { type: 'flattened' },
};

/** `geoShape`: whether the cluster has the `geo_shape` field type. */
export function propertiesOf(schema: TableSchema, geoShape = true, json: JsonColumns = 'text'): Record<string, Mapping> {
  const geometry = geoShape ? MAPPINGS.geometry : geometryMapping({ type: 'object', enabled: false });
  const mappingOf = (kind: ColumnKind) => (kind === 'geometry' ? geometry : kind === 'json' ? JSON_MAPPINGS[json] : MAPPINGS[kind]);
  return Object.fromEntries(schema.columns.map((column) => [column.name, mappingOf(column.kind)]));
}

/** The column kind an Avro field type carries (the inverse of the source's avroTypeOf). */
function kindOf(fieldType: Type): ColumnKind {
  const type = unwrapNullable(fieldType);
  if (type.typeName === 'record' && type.name === GEOMETRY_NAME) return 'geometry';
  switch (type.typeName) {
    case 'int':
      return 'int32';
    case 'long':
    case 'abstract:long':
      return 'int64';
    case 'float':
      return 'float32';
    case 'double':
      return 'float64';
    case 'logical:decimal':
      return 'decimal';
    case 'boolean':
      return 'boolean';
    case 'bytes':
    case 'fixed':
      return 'bytes';
    case 'logical:date':
      return 'date';
    case 'logical:time-micros':
      return 'time';
    case 'logical:local-timestamp-micros':
      return 'datetime';
    case 'logical:timestamp-micros':
      return 'timestamp';
    case 'logical:json':
      return 'json';
    default:
      return 'string';
  }
}

/**
 * The table schema of a change record's row type, so the sink's transforms see the same typed
 * schema as the source's. Its key is empty: on the sink the document id comes from the record's
 * key, not from the row.
 */
export function tableSchemaOfRow(database: string, table: string, rowType: Type | undefined): TableSchema {
  const fields = (rowType as unknown as { fields?: Array<{ name: string; type: Type }> } | undefined)?.fields ?? [];
  const columns = fields.map((field): ColumnDef => ({ name: field.name, kind: kindOf(field.type), sqlType: unwrapNullable(field.type).typeName, optional: true }));
  return tableSchemaOfFields(database, table, columns, columnNamesOf(rowType));
}

/** A table schema from its record's fields (named as fields), under the columns' names where `renamed` (field → column) gives them. */
export function tableSchemaOfFields(database: string, table: string, fields: ColumnDef[], renamed: ReadonlyMap<string, string> | undefined): TableSchema {
  const columns = renamed && renamed.size > 0 ? fields.map((c) => ({ ...c, name: renamed.get(c.name) ?? c.name })) : fields;
  const schema = { database, table, columns, key: [], fingerprint: schemaFingerprint(columns, []) };
  if (renamed && renamed.size > 0) fieldRenames.set(schema, renamed);
  return schema;
}

/** Schemas whose columns are named otherwise than their record's fields: field → column name. */
const fieldRenames = new WeakMap<TableSchema, ReadonlyMap<string, string>>();

/**
 * A decoded row image under its columns' names (Avro field names replace characters a column
 * name may hold). Rows of schemas without renamed fields are returned as they are.
 */
export function rowUnderColumnNames(schema: TableSchema, row: Row | null): Row | null {
  const renamed = fieldRenames.get(schema);
  if (!renamed || !row) return row;
  const out: Row = {};
  for (const [field, value] of Object.entries(row)) out[renamed.get(field) ?? field] = value;
  return out;
}

function unwrapNullable(type: Type): Type {
  const branches = (type as unknown as { types?: Type[] }).types;
  if (!branches) return type;
  return branches.find((t) => t.typeName !== 'null') ?? type;
}

/** The row record inside a change envelope schema (the `after` field's non-null branch). */
export function rowTypeOfEnvelope(envelope: Type): Type | undefined {
  const fields = (envelope as unknown as { fields?: Array<{ name: string; type: Type }> }).fields;
  const after = fields?.find((f) => f.name === 'after');
  return after ? unwrapNullable(after.type) : undefined;
}
