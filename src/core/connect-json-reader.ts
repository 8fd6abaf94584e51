import type { ColumnDef, Row } from './change-event.ts';
import { type ConnectReader, type ConnectSchema, columnKindOf, connectReaderOf } from './connect-types.ts';
import { COLUMN_NAME_ATTRIBUTE } from './avro-types.ts';
import { splitJsonRecord } from './json-record.ts';

/** What a reader knows about one record schema, parsed once per distinct schema text. */
interface RecordShape {
  /** Connect format: the row's columns (name, kind) and their readers; undefined for the earlier Avro-schema shape. */
  columns: ColumnDef[] | undefined;
  /** Field → column name, for fields whose name had to differ from the column's. */
  renames: ReadonlyMap<string, string> | undefined;
  readers: Array<[field: string, read: ConnectReader]>;
  /** Whether the record is a change envelope (rows in before/after) rather than a flat row or a key. */
  envelope: boolean;
  /** The earlier shape's Avro schema, which the caller turns into columns itself. */
  avroSchema: Record<string, unknown> | undefined;
}

export interface JsonChangeRecord {
  /** Identifies the record's schema: equal texts, equal columns. */
  schemaText: string;
  /** Envelope (or flat row) with canonical values in its rows (see ColumnKind). */
  payload: Record<string, unknown>;
  columns: ColumnDef[] | undefined;
  renames: ReadonlyMap<string, string> | undefined;
  avroSchema: Record<string, unknown> | undefined;
}

/** Distinct record schemas kept (one per table version and key/value); beyond it the cache starts over. */
const MAX_SHAPES = 2_000;

/**
 * Reads VALUE_CONVERTER=json records, in Kafka Connect's JsonConverter format and in the earlier
 * shape that carried the Avro schema, into canonical values: the same values the Avro path
 * decodes, so everything after the decoder is converter-blind.
 */
export class JsonChangeReader {
  readonly #shapes = new Map<string, RecordShape>();

  /** A change record's value: the envelope's `before` and `after` rows (or a flat row) converted. */
  value(buffer: Buffer): JsonChangeRecord {
    const { schemaText, payload } = splitJsonRecord(buffer);
    const shape = this.#shape(schemaText, 'row');
    const record = payload as Record<string, unknown>;
    if (shape.columns && record && typeof record === 'object') {
      if (shape.envelope) {
        record.before = convertRow(record.before, shape.readers);
        record.after = convertRow(record.after, shape.readers);
      } else convertRow(record, shape.readers);
    }
    return { schemaText, payload: record, columns: shape.columns, renames: shape.renames, avroSchema: shape.avroSchema };
  }

  /** A record key: its fields converted. */
  key(buffer: Buffer): Record<string, unknown> {
    const { schemaText, payload } = splitJsonRecord(buffer);
    const shape = this.#shape(schemaText, 'key');
    return shape.columns ? (convertRow(payload, shape.readers) as Record<string, unknown>) : (payload as Record<string, unknown>);
  }

  #shape(schemaText: string, what: 'row' | 'key'): RecordShape {
    let shape = this.#shapes.get(schemaText);
    if (shape) return shape;
    const schema = JSON.parse(schemaText) as Record<string, unknown>;
    if (schema.type !== 'struct') shape = { columns: undefined, renames: undefined, readers: [], envelope: false, avroSchema: schema };
    else {
      const struct = schema as unknown as ConnectSchema;
      // An envelope's rows are its `after` struct; a key or a flat row is the struct itself.
      const after = what === 'row' ? struct.fields?.find((f) => f.field === 'after' && f.type === 'struct') : undefined;
      const fields = (after ?? struct).fields ?? [];
      // Named by the column (a field that had to be renamed carries it as a parameter); rows keep field names until the decoder renames them.
      const columns = fields.map((f): ColumnDef => ({ name: f.field!, kind: columnKindOf(f), sqlType: f.name ?? f.type, optional: true }));
      const renames = new Map(fields.flatMap((f) => (f.parameters?.[COLUMN_NAME_ATTRIBUTE] ? [[f.field!, f.parameters[COLUMN_NAME_ATTRIBUTE]] as const] : [])));
      shape = { columns, renames, readers: fields.map((f) => [f.field!, connectReaderOf(f)]), envelope: after !== undefined, avroSchema: undefined };
    }
    if (this.#shapes.size >= MAX_SHAPES) this.#shapes.clear();
    this.#shapes.set(schemaText, shape);
    return shape;
  }
}

function convertRow(row: unknown, readers: Array<[string, ConnectReader]>): Row | null {
  if (row === null || typeof row !== 'object') return null;
  const values = row as Record<string, unknown>;
  for (const [field, read] of readers) {
    const value = values[field];
    values[field] = value === null || value === undefined ? null : (read(value) as Row[string]);
  }
  return values as Row;
}
