import type { ColumnDef, TableSchema } from '../core/change-event.ts';
import { COLUMN_NAME_ATTRIBUTE } from '../core/avro-types.ts';
import { type ConnectSchema, type ConnectWriter, connectTypeOf, connectWriterOf } from '../core/connect-types.ts';
import { exactJson } from '../core/exact-json.ts';
import { jsonRecord } from '../core/json-record.ts';
import { avroName, avroNamespace, ENVELOPE_TEMPLATE, SOURCE_SCHEMA } from './avro-schema.ts';

/**
 * The Kafka Connect (JsonConverter) schemas of a table, with the writers of its rows: built once
 * per table schema version, so each record is the cached schema text with its payload spliced in.
 * Field names are the Avro ones (avroName), so both converters name a column alike, and both
 * carry the column's own name where it differs (`__debezium.source.column.name`).
 */
export class ConnectJsonTable {
  readonly valueSchema: ConnectSchema;
  readonly keySchema: ConnectSchema | null;
  readonly #valueSchemaText: string;
  readonly #keySchemaText: string | null;
  readonly #flat: boolean;
  readonly #row: RowWriter;
  readonly #key: RowWriter | null;

  constructor(prefix: string, table: TableSchema, flat: boolean) {
    const namespace = avroNamespace(prefix, table);
    const row = structOf(`${namespace}.Value`, table.columns, false);
    this.#flat = flat;
    this.valueSchema = flat ? row : envelopeOf(namespace, row);
    this.#row = rowWriter(table.columns);
    const keyColumns = table.key.map((name) => ({ ...table.columns.find((c) => c.name === name)!, optional: false }));
    this.keySchema = keyColumns.length > 0 ? structOf(`${namespace}.Key`, keyColumns, false) : null;
    this.#key = keyColumns.length > 0 ? rowWriter(keyColumns) : null;
    this.#valueSchemaText = JSON.stringify(this.valueSchema);
    this.#keySchemaText = this.keySchema && JSON.stringify(this.keySchema);
  }

  /** The key record (fields named by avroName, canonical values). */
  key(record: Record<string, unknown>): Buffer {
    if (!this.#key || !this.#keySchemaText) throw new TypeError('a keyless table has no key record');
    return jsonRecord(this.#keySchemaText, this.#key(record));
  }

  /** The envelope (rows in before/after, the rest as is) or, for flat records, the row. */
  value(record: Record<string, unknown>): Buffer {
    if (this.#flat) return jsonRecord(this.#valueSchemaText, this.#row(record));
    let out = '{';
    for (const [name, value] of Object.entries(record)) {
      const text = name === 'before' || name === 'after' ? (value ? this.#row(value as Record<string, unknown>) : 'null') : exactJson(value);
      out += `${out.length > 1 ? ',' : ''}"${name}":${text}`;
    }
    return jsonRecord(this.#valueSchemaText, `${out}}`);
  }
}

type RowWriter = (row: Record<string, unknown>) => string;

function rowWriter(columns: ColumnDef[]): RowWriter {
  const fields: Array<[prefix: string, field: string, write: ConnectWriter]> = columns.map((c, i) => {
    const field = avroName(c.name);
    return [`${i === 0 ? '' : ','}${JSON.stringify(field)}:`, field, connectWriterOf(c)];
  });
  return (row) => {
    let out = '{';
    for (const [prefix, field, write] of fields) {
      const value = row[field];
      out += prefix + (value === null || value === undefined ? 'null' : write(value as never));
    }
    return `${out}}`;
  };
}

/** A field whose name had to differ from its column's carries the column's name as a parameter, as Debezium does and as the Avro schema does. */
function structOf(name: string, columns: ColumnDef[], optional: boolean): ConnectSchema {
  const fields = columns.map((c): ConnectSchema => {
    const type = connectTypeOf(c);
    const field = avroName(c.name);
    if (field === c.name) return { ...type, optional: c.optional, field };
    return { ...type, optional: c.optional, field, parameters: { ...type.parameters, [COLUMN_NAME_ATTRIBUTE]: c.name } };
  });
  return { type: 'struct', fields, optional, name };
}

/** Debezium's envelope: before/after rows, then the source block and the rest of the Avro template, in Connect terms. */
function envelopeOf(namespace: string, row: ConnectSchema): ConnectSchema {
  const fields = ENVELOPE_TEMPLATE.fields.map((field): ConnectSchema => {
    const name = field.name as string;
    if (name === 'before' || name === 'after') return { ...row, optional: true, field: name };
    if (name === 'source') return { ...connectOfAvro(SOURCE_SCHEMA, 'io.cdces'), field: name };
    return { ...connectOfAvro(field.type, 'io.cdces'), field: name };
  });
  return { type: 'struct', fields, optional: false, name: `${namespace}.Envelope`, version: 1 };
}

const PRIMITIVES: Record<string, string> = { string: 'string', long: 'int64', int: 'int32', boolean: 'boolean', double: 'double', float: 'float', bytes: 'bytes' };

/** The Connect schema of one of the fixed Avro schemas (source block, transaction block): primitives, nullable unions and records. */
function connectOfAvro(type: unknown, namespace: string): ConnectSchema {
  if (typeof type === 'string') return { type: PRIMITIVES[type]!, optional: false };
  if (Array.isArray(type))
    return {
      ...connectOfAvro(
        type.find((t) => t !== 'null'),
        namespace,
      ),
      optional: true,
    };
  const avro = type as Record<string, unknown> & { fields?: Array<Record<string, unknown>> };
  if (avro.type === 'record') {
    const ns = (avro.namespace as string | undefined) ?? namespace;
    const fields = (avro.fields ?? []).map((f): ConnectSchema => {
      const schema = { ...connectOfAvro(f.type, ns), field: f.name as string };
      return f.default === undefined || f.default === null ? schema : { ...schema, default: f.default };
    });
    return { type: 'struct', fields, optional: false, name: `${ns}.${avro.name as string}` };
  }
  const schema: ConnectSchema = { ...connectOfAvro(avro.type, namespace) };
  if (typeof avro['connect.name'] === 'string') schema.name = avro['connect.name'];
  if (typeof avro['connect.version'] === 'number') schema.version = avro['connect.version'];
  if (avro['connect.parameters']) schema.parameters = avro['connect.parameters'] as Record<string, string>;
  return schema;
}
