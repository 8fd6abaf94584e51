import type { ColumnDef, ColumnKind, ColumnValue, GeometryValue } from '../core/change-event.ts';
import { CdcError } from '../core/errors.ts';
import { digitsAt } from '../core/avro-types.ts';

/** What zongji tells us about a column (from FULL binlog metadata or information_schema). */
export interface BinlogColumn {
  COLUMN_NAME: string;
  COLUMN_TYPE: string;
  UNSIGNED?: boolean;
  ENUM_VALUES?: string[];
  SET_VALUES?: string[];
}

/** What zero and partial dates become (ZERO_DATES, ZERO_DATE_SENTINEL in the source config). */
export interface ZeroDates {
  mode: 'null' | 'sentinel';
  /** A real day, `YYYY-MM-DD`: also what key columns get in mode null. */
  sentinel: string;
}

export const ZERO_DATES_DEFAULT: ZeroDates = { mode: 'null', sentinel: '1970-01-01' };

/** MySQL binlog type code of JSON: MariaDB's JSON is a LONGTEXT alias and arrives as text. */
const MYSQL_TYPE_JSON = 245;

const SMALL_INTS = new Set(['tinyint', 'smallint', 'mediumint']);
const TEXTS = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'enum', 'set']);
// zongji names GEOMETRYCOLLECTION `geomcollection` (from FULL metadata), information_schema `geometrycollection`.
const GEOMETRIES = new Set(['geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection']);
const BINARIES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob', 'uuid', 'inet4', 'inet6', 'vector']);

/**
 * Maps one column to its kind. Never guesses: a type without an exact mapping is a coded error
 * naming the column, so no value is ever silently wrong.
 */
export function columnDef(table: string, column: BinlogColumn, typeCode: number | undefined, optional: boolean, zeroDates: ZeroDates = ZERO_DATES_DEFAULT): ColumnDef {
  const sqlType = column.COLUMN_TYPE.toLowerCase();
  const base = /^[a-z0-9]+/.exec(sqlType)?.[0] ?? '';
  const unsigned = column.UNSIGNED ?? / unsigned/.test(sqlType);
  const def = (kind: ColumnKind, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name: column.COLUMN_NAME, kind, sqlType, optional, ...extra });

  if (typeCode === MYSQL_TYPE_JSON || base === 'json') return def('json');
  if (SMALL_INTS.has(base) || base === 'year') return def('int32');
  if (base === 'int' || base === 'integer') return def(unsigned ? 'int64' : 'int32');
  if (base === 'bigint') return unsigned ? def('decimal', { precision: 20, scale: 0 }) : def('int64');
  if (base === 'decimal' || base === 'numeric') {
    const [, precision = '10', scale = '0'] = /\((\d+)(?:,(\d+))?\)/.exec(sqlType) ?? [];
    return def('decimal', { precision: Number(precision), scale: Number(scale) });
  }
  if (base === 'float') return def('float32');
  if (base === 'double' || base === 'real') return def('float64');
  if (base === 'bit') return /^bit\(1\)/.test(sqlType) ? def('boolean') : def('bytes');
  if (TEXTS.has(base)) {
    const symbols = base === 'enum' ? column.ENUM_VALUES : base === 'set' ? column.SET_VALUES : undefined;
    return def('string', symbols ? { symbols } : {});
  }
  if (BINARIES.has(base)) return def('bytes');
  if (GEOMETRIES.has(base)) return def('geometry');
  if (base === 'time') return def('time');
  if (base === 'date' || base === 'datetime' || base === 'timestamp') {
    // A key column cannot be null (the Avro key is not optional), so it always gets the sentinel.
    const sentinel = !optional || zeroDates.mode === 'sentinel' ? zeroDates.sentinel : undefined;
    if (base === 'date') return def('date', sentinel ? { zeroDate: sentinel } : {});
    if (base === 'datetime') return def('datetime', sentinel ? { zeroDate: `${sentinel}T00:00:00.000000` } : {});
    return def('timestamp', sentinel ? { zeroDate: `${sentinel}T00:00:00.000000Z` } : {});
  }
  throw new CdcError('UNSUPPORTED_COLUMN_TYPE', `Column ${table}.${column.COLUMN_NAME} has type ${sqlType}, which cannot be converted exactly yet`, {
    hint: 'Exclude the table (TABLE_EXCLUDE) or the column until this type is supported.',
    details: { table, column: column.COLUMN_NAME, type: sqlType },
  });
}

/**
 * Turns a value as zongji decodes it (with dateStrings, timezone 'Z' and jsonStrings) into the
 * canonical value of its kind (see ColumnKind). Zero dates (`0000-00-00`) and partial dates
 * (`2024-00-10`) name no day: they become the column's zeroDate (null, or the sentinel).
 */
export function canonicalValue(column: ColumnDef, raw: unknown): ColumnValue {
  // The binlog reader finds no symbol for an ENUM's error value (index 0); a SELECT reads it as ''.
  if (raw === undefined && column.symbols && column.sqlType.startsWith('enum')) return '';
  if (raw === null || raw === undefined) return null;
  switch (column.kind) {
    case 'int32':
      // zongji adds 1900 to the stored byte, so YEAR 0000 (stored 0) arrives as 1900, a value YEAR cannot hold.
      return column.sqlType === 'year' && Number(raw) === 1900 ? 0 : Number(raw);
    case 'float32':
    case 'float64':
      return Number(raw);
    case 'int64':
      return BigInt(raw as number | string);
    case 'decimal':
      return String(raw);
    case 'boolean':
      return Buffer.isBuffer(raw) ? raw.some((byte) => byte !== 0) : Boolean(raw);
    case 'string':
      return Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw);
    case 'bytes':
      return Buffer.isBuffer(raw) ? raw : textToBytes(column.sqlType, String(raw));
    case 'json':
      return typeof raw === 'string' ? raw : JSON.stringify(raw);
    case 'geometry':
      return geometryOf(raw as Buffer);
    case 'date':
      return isZeroDate(String(raw)) ? (column.zeroDate ?? null) : String(raw);
    case 'time':
      return sixDigitFraction(String(raw));
    case 'datetime':
      return isZeroDate(String(raw)) ? (column.zeroDate ?? null) : sixDigitFraction(String(raw).replace(' ', 'T'));
    case 'timestamp':
      return isZeroDate(String(raw)) ? (column.zeroDate ?? null) : `${sixDigitFraction(String(raw).replace(' ', 'T'))}Z`;
  }
}

/**
 * Both readers hand over a geometry as the server stores it (see binlog-reader.ts and
 * openTableConnection): the SRID as 4 little-endian bytes, then the WKB.
 */
function geometryOf(stored: Buffer): GeometryValue {
  if (!Buffer.isBuffer(stored) || stored.length < 5)
    throw new CdcError('INTERNAL', `A geometry value arrived as ${Buffer.isBuffer(stored) ? `${stored.length} bytes` : typeof stored}, not as SRID and WKB`);
  return { srid: stored.readUInt32LE(0), wkb: stored.subarray(4) };
}

/**
 * MariaDB's UUID, INET4 and INET6 reach the binlog as plain BINARY(16)/BINARY(4)/BINARY(16) (even
 * FULL metadata does not mark them), so they are bytes there; a SELECT (the snapshot) returns
 * their text. Both paths must give the same value: the text is turned into the stored bytes.
 */
function textToBytes(sqlType: string, text: string): Buffer {
  if (sqlType === 'uuid') return Buffer.from(text.replace(/-/g, ''), 'hex');
  if (sqlType === 'inet4') return Buffer.from(text.split('.').map(Number));
  if (sqlType === 'inet6') return inet6Bytes(text);
  return Buffer.from(text, 'utf8');
}

function inet6Bytes(text: string): Buffer {
  let groups = text.split(':');
  const last = groups.at(-1)!;
  if (last.includes('.')) {
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    groups = [...groups.slice(0, -1), ((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  }
  const gap = groups.indexOf('');
  if (gap >= 0) {
    const head = groups.slice(0, gap).filter(Boolean);
    const tail = groups.slice(gap + 1).filter(Boolean);
    groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  const bytes = Buffer.alloc(16);
  groups.forEach((g, i) => {
    bytes.writeUInt16BE(parseInt(g, 16), i * 2);
  });
  return bytes;
}

/**
 * A date naming no day: year, month or day zero. Read from character codes where the text has
 * the `YYYY-MM-DD` shape every value of the readers has (each row's dates pass here).
 */
function isZeroDate(value: string): boolean {
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  if (value.length < 10 || value.charCodeAt(4) !== 0x2d || value.charCodeAt(7) !== 0x2d || year < 0 || month < 0 || day < 0) {
    return /^\d{4}-00-|^\d{4}-\d\d-00|^0000-/.test(value);
  }
  return year === 0 || month === 0 || day === 0;
}

function sixDigitFraction(value: string): string {
  const dot = value.indexOf('.');
  if (dot < 0) return `${value}.000000`;
  if (value.length - dot === 7) return value;
  return value.slice(0, dot + 1) + value.slice(dot + 1).padEnd(6, '0');
}
