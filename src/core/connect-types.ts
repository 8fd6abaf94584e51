import type { ColumnDef, ColumnKind, ColumnValue } from './change-event.ts';
import { isGeometry } from './change-event.ts';
import { bigIntToBytes, bytesToBigInt, daysOf, formatDays, formatMicros, formatTimeMicros, formatUnscaled, JsonText, parseMicros, parseTimeMicros, parseUnscaled } from './avro-types.ts';

/**
 * Kafka Connect's schema of one value, as its JsonConverter writes it (`schemas.enable=true`):
 * `type` is a Connect type as JsonConverter spells it (int8…int64, float, double, boolean,
 * string, bytes, struct), `name`,
 * `version` and `parameters` make it a logical or semantic type. The names are the ones
 * Debezium's MySQL/MariaDB connectors use with their default settings
 * (`time.precision.mode=adaptive_time_microseconds`, `decimal.handling.mode=precise`,
 * `binary.handling.mode=bytes`), so a Connect sink that reads Debezium's topics reads ours.
 */
export interface ConnectSchema {
  type: string;
  optional: boolean;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  /** The field's name, when this schema is a struct member. */
  field?: string;
  fields?: ConnectSchema[];
  default?: unknown;
  doc?: string;
}

export const CONNECT_DECIMAL = 'org.apache.kafka.connect.data.Decimal';
const CONNECT_DATE = 'org.apache.kafka.connect.data.Date';
const DEBEZIUM_DATE = 'io.debezium.time.Date';
const MICRO_TIME = 'io.debezium.time.MicroTime';
const MICRO_TIMESTAMP = 'io.debezium.time.MicroTimestamp';
/** Debezium uses it for DATETIME(0..3), in milliseconds; read, never written (see connectTypeOf). */
const MILLI_TIMESTAMP = 'io.debezium.time.Timestamp';
const ZONED_TIMESTAMP = 'io.debezium.time.ZonedTimestamp';
const YEAR = 'io.debezium.time.Year';
const JSON_NAME = 'io.debezium.data.Json';
const ENUM = 'io.debezium.data.Enum';
const ENUM_SET = 'io.debezium.data.EnumSet';
const BITS = 'io.debezium.data.Bits';
export const GEOMETRY = 'io.debezium.data.geometry.Geometry';

type ConnectType = Omit<ConnectSchema, 'optional' | 'field'>;

const semantic = (type: string, name: string, parameters?: Record<string, string>): ConnectType => ({ type, name, version: 1, ...(parameters ? { parameters } : {}) });

function baseType(column: ColumnDef): string {
  return /^[a-z0-9]+/.exec(column.sqlType)?.[0] ?? '';
}

/**
 * The Connect type of a column. Where our values differ from Debezium's defaults the choice is
 * exactness: BIGINT UNSIGNED is a Decimal (Debezium's `bigint.unsigned.handling.mode=precise`;
 * its default int64 wraps above 2^63), and every DATETIME is a MicroTimestamp (Debezium writes
 * DATETIME(0..3) as a millisecond `Timestamp`; microseconds hold those exactly too).
 */
export function connectTypeOf(column: ColumnDef): ConnectType {
  const base = baseType(column);
  switch (column.kind) {
    case 'int32':
      if (base === 'year') return semantic('int32', YEAR);
      // Debezium: TINYINT and SMALLINT are INT16, except SMALLINT UNSIGNED (beyond int16).
      if (base === 'tinyint' || (base === 'smallint' && !/unsigned/.test(column.sqlType))) return { type: 'int16' };
      return { type: 'int32' };
    case 'int64':
      return { type: 'int64' };
    case 'decimal':
      return semantic('bytes', CONNECT_DECIMAL, { scale: String(column.scale ?? 0), 'connect.decimal.precision': String(column.precision ?? 65) });
    case 'float32':
      return { type: 'float' };
    case 'float64':
      return { type: 'double' };
    case 'boolean':
      return { type: 'boolean' };
    case 'string':
      if (column.symbols && base === 'enum') return semantic('string', ENUM, { allowed: column.symbols.join(',') });
      if (column.symbols && base === 'set') return semantic('string', ENUM_SET, { allowed: column.symbols.join(',') });
      return { type: 'string' };
    case 'bytes': {
      const bits = /^bit\((\d+)\)/.exec(column.sqlType);
      return bits ? semantic('bytes', BITS, { length: bits[1]! }) : { type: 'bytes' };
    }
    case 'date':
      return semantic('int32', DEBEZIUM_DATE);
    case 'time':
      return semantic('int64', MICRO_TIME);
    case 'datetime':
      return semantic('int64', MICRO_TIMESTAMP);
    case 'timestamp':
      return semantic('string', ZONED_TIMESTAMP);
    case 'json':
      return semantic('string', JSON_NAME);
    case 'geometry':
      return {
        ...semantic('struct', GEOMETRY),
        doc: 'Geometry',
        fields: [
          { field: 'wkb', type: 'bytes', optional: false },
          { field: 'srid', type: 'int32', optional: true },
        ],
      };
  }
}

/**
 * The annotations Confluent's AvroConverter writes into an Avro type for a Connect type
 * (`connect.name`, `connect.version`, `connect.parameters`, `connect.type`), for the Avro schema
 * of a column. The Avro value keeps its own representation, so where Debezium's Connect type
 * would need another one the annotation names the Connect type that matches ours: DATE keeps
 * Avro's `date` logical type (Connect's Date: a Debezium name there would clash with it in the
 * converter), TIMESTAMP stays microseconds since the epoch (MicroTimestamp, in UTC), BIT(n>1)
 * stays plain bytes in the server's (big-endian) order.
 */
export function connectAvroProps(column: ColumnDef): Record<string, unknown> {
  const connect = connectTypeOf(column);
  if (column.kind === 'date') return { 'connect.name': CONNECT_DATE, 'connect.version': 1 };
  if (column.kind === 'timestamp') return { 'connect.name': MICRO_TIMESTAMP, 'connect.version': 1 };
  if (column.kind === 'geometry' || connect.name === BITS) return {};
  const props: Record<string, unknown> = {};
  if (connect.type === 'int16') props['connect.type'] = 'int16';
  if (connect.name) {
    props['connect.name'] = connect.name;
    props['connect.version'] = connect.version;
  }
  if (connect.parameters) props['connect.parameters'] = connect.parameters;
  return props;
}

/** JSON text of a canonical value (ColumnKind) in the representation of its Connect type. */
export type ConnectWriter = (value: ColumnValue) => string;

const base64 = (buffer: Buffer) => `"${buffer.toString('base64')}"`;

export function connectWriterOf(column: ColumnDef): ConnectWriter {
  const connect = connectTypeOf(column);
  switch (column.kind) {
    case 'int32':
    case 'float32':
    case 'float64':
    case 'boolean':
      return (v) => JSON.stringify(v);
    case 'int64':
      return (v) => String(v);
    case 'decimal': {
      const scale = column.scale ?? 0;
      return (v) => base64(bigIntToBytes(parseUnscaled(String(v), scale)));
    }
    case 'string':
    case 'json':
    case 'timestamp':
      return (v) => JSON.stringify(v);
    case 'bytes':
      // Debezium's Bits hold the bits little-endian; the server (and our bytes) big-endian.
      return connect.name === BITS ? (v) => base64(Buffer.from(v as Buffer).reverse()) : (v) => base64(v as Buffer);
    case 'date':
      return (v) => String(daysOf(v as string));
    case 'time':
      return (v) => String(parseTimeMicros(v as string));
    case 'datetime':
      return (v) => String(parseMicros(v as string));
    case 'geometry':
      return (v) => {
        if (!isGeometry(v)) throw new TypeError('a geometry column holds no geometry value');
        return `{"wkb":${base64(v.wkb)},"srid":${v.srid}}`;
      };
  }
}

/** The column kind of a Connect field type: the inverse of connectTypeOf (also for Debezium's own topics' types). */
export function columnKindOf(schema: ConnectSchema): ColumnKind {
  switch (schema.name) {
    case CONNECT_DECIMAL:
      return 'decimal';
    case DEBEZIUM_DATE:
    case CONNECT_DATE:
      return 'date';
    case MICRO_TIME:
      return 'time';
    case MICRO_TIMESTAMP:
    case MILLI_TIMESTAMP:
      return 'datetime';
    case ZONED_TIMESTAMP:
      return 'timestamp';
    case JSON_NAME:
      return 'json';
    case GEOMETRY:
      return 'geometry';
  }
  switch (schema.type) {
    case 'int8':
    case 'int16':
    case 'int32':
      return 'int32';
    case 'int64':
      return 'int64';
    case 'float':
      return 'float32';
    case 'double':
      return 'float64';
    case 'boolean':
    case 'bytes':
      return schema.type;
    default:
      return 'string';
  }
}

/** Canonical value (ColumnKind) of a parsed Connect JSON value of this field type. */
export type ConnectReader = (value: unknown) => ColumnValue | JsonText;

export function connectReaderOf(schema: ConnectSchema): ConnectReader {
  const kind = columnKindOf(schema);
  const bytes = (v: unknown) => Buffer.from(String(v), 'base64');
  switch (kind) {
    case 'int64':
      return (v) => BigInt(v as number | bigint);
    case 'decimal': {
      const scale = Number(schema.parameters?.scale ?? 0);
      // Base64 of the unscaled integer (what we and Connect's default decimal.format write), or a JSON number (decimal.format=NUMERIC).
      return (v) => formatUnscaled(typeof v === 'string' ? bytesToBigInt(bytes(v)) : parseUnscaled(String(v), scale), scale);
    }
    case 'bytes':
      return schema.name === BITS ? (v) => bytes(v).reverse() : bytes;
    case 'date':
      return (v) => formatDays(Number(v));
    case 'time':
      return (v) => formatTimeMicros(BigInt(v as number | bigint));
    case 'datetime':
      return schema.name === MILLI_TIMESTAMP ? (v) => formatMicros(BigInt(v as number | bigint) * 1000n) : (v) => formatMicros(BigInt(v as number | bigint));
    case 'json':
      return (v) => new JsonText(String(v));
    case 'geometry':
      return (v) => {
        const { wkb, srid } = v as { wkb: string; srid: number | null };
        return { wkb: bytes(wkb), srid: Number(srid ?? 0) };
      };
    default:
      return (v) => v as ColumnValue;
  }
}
