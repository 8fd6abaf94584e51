import { JsonText } from '../../src/core/avro-types.ts';
import { exactJson, parseExactJson } from '../../src/core/exact-json.ts';

/**
 * The round-trip type matrix: one table per type family, each column with the rule that turns
 * the server's own SELECT output (read in UTC, values as exact strings, see mysql.ts) into the
 * value a document must hold. The rules are written here independently of the product's
 * conversions; `docs/types.md` states the same table for users.
 */
export type Expect =
  | 'text' // the SELECT text itself (integers, decimals, strings, dates, JSON text)
  | 'float32' // equal after rounding both sides to float32
  | 'float64'
  | 'bit1' // BIT(1): true/false
  | 'base64' // bytes
  | 'time' // [-]HH:MM:SS.ffffff
  | 'datetime' // YYYY-MM-DDTHH:MM:SS.ffffff
  | 'timestamp' // YYYY-MM-DDTHH:MM:SS.ffffffZ (read in UTC)
  | 'date' // YYYY-MM-DD
  | 'geometry' // `srid:WKB-hex`, from the stored `HEX(c)` (4-byte little-endian SRID + WKB)
  | 'json' // the same JSON value (exact numbers), whether a document holds it parsed or a record as text
  | 'utf8'; // the stored bytes `HEX(c)` decoded as UTF-8 by the WHATWG decoder: each invalid sequence becomes U+FFFD
// date, datetime, timestamp: a zero or partial date becomes null, or the run's ZERO_DATE_SENTINEL
// (with ZERO_DATES=sentinel, and in key columns always).

export interface MatrixTable {
  name: string;
  /** Column definitions after `id INT PRIMARY KEY`. */
  /** `selectAs`: the expression whose SELECT output the column must equal (default: the column). */
  /** `key`: the column is part of the primary key (after id). */
  columns: Array<{ name: string; ddl: string; expect: Expect; selectAs?: string; key?: true }>;
  /** Rows as SQL value lists (without the id), written in the server's non-UTC session zone. */
  rows: string[];
}

/** A UTC instant as a literal of the session's (non-UTC) zone: the TIMESTAMP range is defined in UTC. */
const utc = (instant: string) => `CONVERT_TZ('${instant}', '+00:00', @@session.time_zone)`;

const MAX_DEC = `${'9'.repeat(35)}.${'9'.repeat(30)}`;

export const MATRIX: MatrixTable[] = [
  {
    name: 'm_integers',
    columns: [
      { name: 'ti', ddl: 'TINYINT', expect: 'text' },
      { name: 'tiu', ddl: 'TINYINT UNSIGNED', expect: 'text' },
      { name: 'si', ddl: 'SMALLINT', expect: 'text' },
      { name: 'siu', ddl: 'SMALLINT UNSIGNED', expect: 'text' },
      { name: 'mi', ddl: 'MEDIUMINT', expect: 'text' },
      { name: 'miu', ddl: 'MEDIUMINT UNSIGNED', expect: 'text' },
      { name: 'i', ddl: 'INT', expect: 'text' },
      { name: 'iu', ddl: 'INT UNSIGNED', expect: 'text' },
      { name: 'bi', ddl: 'BIGINT', expect: 'text' },
      { name: 'biu', ddl: 'BIGINT UNSIGNED', expect: 'text' },
      { name: 'yr', ddl: 'YEAR', expect: 'text' },
      { name: 'flag', ddl: 'BOOLEAN', expect: 'text' },
      { name: 'b1', ddl: 'BIT(1)', expect: 'bit1' },
      { name: 'b8', ddl: 'BIT(8)', expect: 'base64' },
      { name: 'b64', ddl: 'BIT(64)', expect: 'base64' },
    ],
    rows: [
      "-128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, 1901, 0, b'0', b'0', b'0'",
      "127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, 2155, 1, b'1', b'11111111', b'1111111111111111111111111111111111111111111111111111111111111111'",
      "0, 0, 0, 0, 0, 0, 0, 0, 9007199254740993, 9223372036854775808, 0, 0, b'0', b'10000000', b'1000000000000000000000000000000000000000000000000000000000000001'",
      'NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL',
    ],
  },
  {
    name: 'm_numbers',
    columns: [
      { name: 'd65', ddl: 'DECIMAL(65,30)', expect: 'text' },
      { name: 'd10', ddl: 'DECIMAL(10,0)', expect: 'text' },
      { name: 'd52', ddl: 'DECIMAL(5,2) UNSIGNED', expect: 'text' },
      { name: 'f', ddl: 'FLOAT', expect: 'float32' },
      // The server's own shortest text of the double: a client's number parse may round (see table-reader.ts).
      { name: 'd', ddl: 'DOUBLE', expect: 'float64', selectAs: 'CAST(d AS CHAR)' },
    ],
    rows: [
      `${MAX_DEC}, 9999999999, 999.99, 3.40282e38, 1.7976931348623157e308`,
      `-${MAX_DEC}, -9999999999, 0.01, -3.40282e38, -1.7976931348623157e308`,
      `0.000000000000000000000000000001, 0, 0, 1.1, 2.2250738585072014e-308`,
      `12345678901234567890.123456789012345678901234567890, 1, 12.30, -0.0, 90.28571428571429`,
      'NULL, NULL, NULL, NULL, NULL',
    ],
  },
  {
    name: 'm_strings',
    columns: [
      { name: 'c', ddl: 'CHAR(10)', expect: 'text' },
      { name: 'vc', ddl: 'VARCHAR(300)', expect: 'text' },
      { name: 'tx', ddl: 'TEXT', expect: 'text' },
      { name: 'lt', ddl: 'LONGTEXT', expect: 'text' },
      { name: 'latin', ddl: 'VARCHAR(20) CHARACTER SET latin1', expect: 'text' },
      { name: 'e', ddl: "ENUM('small','medium','large','')", expect: 'text' },
      { name: 's', ddl: "SET('a','b','c','d')", expect: 'text' },
    ],
    rows: [
      "'abc', '🐬 emoji 𝄞 4-byte', '', 'ünïcödé — 中文 🎉', 'Größe café', 'small', 'a,c'",
      "'', '', 'x', '', '', '', ''",
      `'0123456789', '${'é'.repeat(300)}', '${'🐬'.repeat(1000)}', 'line1\\nline2\\t"quoted"\\\\', 'ÿ', 'large', 'a,b,c,d'`,
      'NULL, NULL, NULL, NULL, NULL, NULL, NULL',
    ],
  },
  {
    name: 'm_binary',
    columns: [
      { name: 'bn', ddl: 'BINARY(4)', expect: 'base64' },
      { name: 'vb', ddl: 'VARBINARY(10)', expect: 'base64' },
      { name: 'bl', ddl: 'BLOB', expect: 'base64' },
    ],
    rows: ["x'00000000', x'', x''", "x'01', x'00ff0000', x'f09f90ac00'", "x'ffffffff', x'ffffffffffffffffffff', REPEAT(x'00ff', 3000)", 'NULL, NULL, NULL'],
  },
  {
    name: 'm_temporal',
    columns: [
      { name: 'dt', ddl: 'DATE', expect: 'date' },
      { name: 't0', ddl: 'TIME', expect: 'time' },
      { name: 't6', ddl: 'TIME(6)', expect: 'time' },
      { name: 'dt0', ddl: 'DATETIME', expect: 'datetime' },
      { name: 'dt3', ddl: 'DATETIME(3)', expect: 'datetime' },
      { name: 'dt6', ddl: 'DATETIME(6)', expect: 'datetime' },
      { name: 'ts0', ddl: 'TIMESTAMP NULL DEFAULT NULL', expect: 'timestamp' },
      { name: 'ts6', ddl: 'TIMESTAMP(6) NULL DEFAULT NULL', expect: 'timestamp' },
    ],
    // The session zone is Europe/Berlin (or +05:30): TIMESTAMP literals are local times there.
    rows: [
      `'1000-01-01', '-838:59:59', '-838:59:59.000000', '1000-01-01 00:00:00', '1000-01-01 00:00:00.000', '1000-01-01 00:00:00.000000', ${utc('1970-01-01 00:00:01')}, ${utc('1970-01-01 00:00:01.000001')}`,
      `'9999-12-31', '838:59:59', '838:59:59.000000', '9999-12-31 23:59:59', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999', ${utc('2038-01-19 03:14:07')}, ${utc('2038-01-19 03:14:07.999999')}`,
      "'2024-02-29', '00:00:00', '-00:00:00.000001', '2024-02-29 12:00:00', '2024-02-29 12:00:00.5', '2024-02-29 23:59:59.999999', '2024-03-31 01:59:59', '2024-03-31 01:59:59.999999'",
      "'2000-02-29', '-01:02:03', '100:00:00.5', '2024-03-31 02:30:00', '2024-10-27 02:30:00.123', '2024-10-27 02:30:00.123456', '2024-03-31 03:00:00', '2024-10-27 02:59:59.999999'",
      "'2023-10-29', '23:59:59', '-12:34:56.789012', '2023-03-26 02:00:00', '1970-01-01 00:00:00.001', '1969-12-31 23:59:59.999999', '2024-10-27 03:00:00', '2024-10-27 01:59:59.5'",
      "'0000-00-00', '00:00:00', '00:00:00', '0000-00-00 00:00:00', '2024-00-10 00:00:00', '2024-05-00 10:00:00', '0000-00-00 00:00:00', NULL",
      'NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL',
    ],
  },
  {
    // A zero date in a key column cannot become null (Avro keys are required): always the sentinel.
    name: 'm_zero_key',
    columns: [
      { name: 'kd', ddl: 'DATE NOT NULL', expect: 'date', key: true },
      { name: 'kdt', ddl: 'DATETIME(6) NOT NULL', expect: 'datetime', key: true },
      { name: 'note', ddl: 'VARCHAR(10)', expect: 'text' },
    ],
    rows: ["'0000-00-00', '0000-00-00 00:00:00', 'zero'", "'2024-00-10', '2024-02-00 12:00:00.5', 'partial'", "'1970-01-01', '1970-01-01 00:00:00', 'the day'"],
  },
  {
    // Each spatial type with SRID 4326, then with 3857 (and 0), then NULL. Selected as HEX(c):
    // the server's own stored bytes, SRID then WKB.
    name: 'm_geometry',
    columns: [
      { name: 'g', ddl: 'GEOMETRY', expect: 'geometry', selectAs: 'HEX(g)' },
      { name: 'p', ddl: 'POINT', expect: 'geometry', selectAs: 'HEX(p)' },
      { name: 'l', ddl: 'LINESTRING', expect: 'geometry', selectAs: 'HEX(l)' },
      { name: 'pg', ddl: 'POLYGON', expect: 'geometry', selectAs: 'HEX(pg)' },
      { name: 'mp', ddl: 'MULTIPOINT', expect: 'geometry', selectAs: 'HEX(mp)' },
      { name: 'ml', ddl: 'MULTILINESTRING', expect: 'geometry', selectAs: 'HEX(ml)' },
      { name: 'mpg', ddl: 'MULTIPOLYGON', expect: 'geometry', selectAs: 'HEX(mpg)' },
      { name: 'gc', ddl: 'GEOMETRYCOLLECTION', expect: 'geometry', selectAs: 'HEX(gc)' },
    ],
    rows: [
      [
        'POINT(13.4 52.5)',
        'POINT(-180 -90)',
        'LINESTRING(0 0, 1 1, 2 0)',
        'POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))',
        'MULTIPOINT(1 1, 2 2)',
        'MULTILINESTRING((0 0, 1 1), (2 2, 3 3))',
        'MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))',
        'GEOMETRYCOLLECTION(POINT(1 1), LINESTRING(0 0, 1 1), MULTIPOINT(3 3))',
      ]
        .map((wkt) => `ST_GeomFromText('${wkt}', 4326)`)
        .join(', '),
      [
        // A collection inside a collection (MariaDB's WKT parser refuses nesting; its WKB reader does not).
        "ST_GeomFromWKB(x'0107000000020000000107000000010000000101000000000000000000F03F000000000000F03F0101000000000000000000004000000000000000C0', 3857)",
        "ST_GeomFromText('POINT(1500000.5 7000000.25)', 3857)",
        "ST_GeomFromText('LINESTRING(-1e7 -1e7, 1e7 1e7)', 3857)",
        "ST_GeomFromText('POLYGON((0 0, 1e6 0, 1e6 1e6, 0 0))', 0)",
        "ST_GeomFromText('MULTIPOINT(1e6 1e6)', 3857)",
        "ST_GeomFromText('MULTILINESTRING((0 0, 1 1))', 4294967295)",
        "ST_GeomFromText('MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))', 3857)",
        "ST_GeomFromText('GEOMETRYCOLLECTION EMPTY')",
      ].join(', '),
      'NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL',
    ],
  },
  {
    name: 'm_json',
    // MariaDB's JSON is a LONGTEXT with a json_valid check: captured as JSON all the same.
    columns: [{ name: 'j', ddl: 'JSON', expect: 'json' }],
    rows: [
      `'{"big": 12345678901234567890, "neg": -9223372036854775809, "f": 1.5e300, "nested": {"a": [1, {"b": null}, "🐬"]}}'`,
      `'[]'`,
      `'"just a string"'`,
      `'123456789012345678901234567890'`,
      'NULL',
    ],
  },
  {
    // Values a column's type cannot hold, stored with strict mode off (the writer's sql_mode is ''):
    // an ENUM's error value (index 0) and bytes that are not UTF-8 in a utf8mb4 column (MariaDB
    // refuses most with a '?', but stores an encoded UTF-16 surrogate, ED A0 80, as it is).
    name: 'm_edge',
    columns: [
      { name: 'en', ddl: "ENUM('a','b')", expect: 'text' },
      { name: 'u8', ddl: 'VARCHAR(20) CHARACTER SET utf8mb4', expect: 'utf8', selectAs: 'HEX(u8)' },
      { name: 'u8t', ddl: 'TEXT CHARACTER SET utf8mb4', expect: 'utf8', selectAs: 'HEX(u8t)' },
    ],
    rows: ["'not in the list', x'41EDA08042', x'EDBFBF'", "'b', 'ok', x'EFBFBD'", 'NULL, NULL, NULL'],
  },
  {
    name: 'm_mariadb',
    columns: [
      // The binlog carries these as BINARY(16)/BINARY(4)/BINARY(16) without a type marker: bytes.
      { name: 'u', ddl: 'UUID', expect: 'base64', selectAs: 'CAST(u AS BINARY(16))' },
      { name: 'ip4', ddl: 'INET4', expect: 'base64', selectAs: 'CAST(ip4 AS BINARY(4))' },
      { name: 'ip6', ddl: 'INET6', expect: 'base64', selectAs: 'CAST(ip6 AS BINARY(16))' },
      { name: 'base', ddl: 'INT NOT NULL DEFAULT 7', expect: 'text' },
      { name: 'gen_stored', ddl: 'INT AS (base * 2) STORED', expect: 'text' },
      { name: 'gen_virtual', ddl: 'INT AS (base * 3) VIRTUAL', expect: 'text' },
      { name: 'hidden', ddl: "VARCHAR(10) INVISIBLE DEFAULT 'secret'", expect: 'text' },
      { name: 'dflt', ddl: "VARCHAR(10) NOT NULL DEFAULT 'dflt'", expect: 'text' },
    ],
    rows: [
      "'123e4567-e89b-12d3-a456-426614174000', '192.168.0.1', '2001:db8::ff00:42:8329', 1, DEFAULT, DEFAULT, 'shown', 'x'",
      "'00000000-0000-0000-0000-000000000000', '0.0.0.0', '::', DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT",
      "'ffffffff-ffff-ffff-ffff-ffffffffffff', '255.255.255.255', '::ffff:1.2.3.4', -5, DEFAULT, DEFAULT, NULL, ''",
      'NULL, NULL, NULL, 0, DEFAULT, DEFAULT, NULL, DEFAULT',
    ],
  },
];

export function createTableSql(table: MatrixTable): string {
  // Key columns lead, so the snapshot pages by them (m_zero_key: by zero dates).
  const key = [...table.columns.filter((c) => c.key).map((c) => c.name), 'id'];
  return `CREATE TABLE ${table.name} (id INT, ${table.columns.map((c) => `${c.name} ${c.ddl}`).join(', ')}, PRIMARY KEY (${key.join(', ')}))`;
}

/** Selects every column (INVISIBLE ones too), each as the value its documents must equal. */
export function selectSql(table: MatrixTable): string {
  return `SELECT id, ${table.columns.map((c) => (c.selectAs ? `${c.selectAs} AS ${c.name}` : c.name)).join(', ')} FROM ${table.name} ORDER BY id`;
}

/** Inserts the table's rows with ids `firstId`, `firstId + 1`, … */
export function insertSql(table: MatrixTable, firstId: number): string {
  const names = table.columns.map((c) => c.name).join(', ');
  return `INSERT INTO ${table.name} (id, ${names}) VALUES ${table.rows.map((r, i) => `(${firstId + i}, ${r})`).join(', ')}`;
}

/**
 * What a column of a SELECT row must look like in a document (and in the decoded Kafka record), as
 * text. `zeroDay`: the day a zero or partial date becomes in this column, or undefined for null.
 */
export function expectedText(expect: Expect, value: unknown, zeroDay?: string): string | null {
  if (value === null || value === undefined) return null;
  const text = Buffer.isBuffer(value) ? value.toString('base64') : String(value);
  if (expect === 'geometry') return `${Buffer.from(text.slice(0, 8), 'hex').readUInt32LE(0)}:${text.slice(8).toLowerCase()}`;
  const zero = ['date', 'datetime', 'timestamp'].includes(expect) && isZeroDate(text);
  if (zero && zeroDay === undefined) return null;
  switch (expect) {
    case 'utf8':
      return new TextDecoder('utf-8').decode(Buffer.from(text, 'hex'));
    case 'json':
      return exactJson(parseExactJson(text));
    case 'bit1':
      return String((value as Buffer).some((b) => b !== 0));
    case 'time':
      return withMicros(text);
    case 'datetime':
      return zero ? `${zeroDay}T00:00:00.000000` : withMicros(text.replace(' ', 'T'));
    case 'timestamp':
      return zero ? `${zeroDay}T00:00:00.000000Z` : `${withMicros(text.replace(' ', 'T'))}Z`;
    case 'date':
      return zero ? zeroDay! : text;
    default:
      return text;
  }
}

/** A value from a document or a decoded Avro record, as text comparable with expectedText. */
export function actualText(expect: Expect, value: unknown, where: string): string | null {
  if (value === null || value === undefined) return null;
  if (expect === 'geometry') {
    // Avro gives the WKB as bytes and the SRID as a BigInt; JSON (Kafka and documents) base64 and a number.
    const { wkb, srid } = value as { wkb: Buffer | string; srid: bigint | number };
    return `${srid}:${(Buffer.isBuffer(wkb) ? wkb : Buffer.from(wkb, 'base64')).toString('hex')}`;
  }
  if (Buffer.isBuffer(value)) return value.toString('base64');
  // A document holds the JSON value itself; a record the JSON text (JsonText from Avro, a string from Connect JSON).
  if (expect === 'json') return exactJson(where === 'es' ? value : parseExactJson(value instanceof JsonText ? value.text : String(value)));
  if (value instanceof JsonText) return value.text;
  if (expect === 'float32') return String(Math.fround(Number(value)));
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function sameValue(expect: Expect, expected: string | null, actual: string | null): boolean {
  if (expected === null || actual === null) return expected === actual;
  if (expect === 'float32') return Math.fround(Number(expected)) === Math.fround(Number(actual));
  if (expect === 'float64') return Number(expected) === Number(actual);
  return expected === actual;
}

/**
 * Every mismatch between a row image (a document's source or a decoded record's `after`) and the
 * SELECT row, as readable lines; fields the table does not have count too. `zeroDay` as in
 * expectedText; key columns always get the sentinel (its default day without one).
 */
export function rowMismatches(table: MatrixTable, id: string, expected: Record<string, unknown>, actual: Record<string, unknown>, where: string, zeroDay?: string): string[] {
  const problems: string[] = [];
  for (const column of table.columns) {
    const want = expectedText(column.expect, expected[column.name], column.key ? (zeroDay ?? '1970-01-01') : zeroDay);
    const got = actualText(column.expect, actual[column.name], where);
    if (!sameValue(column.expect, want, got)) problems.push(`${where} ${table.name} id=${id} ${column.name} (${column.ddl}): expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  const extra = Object.keys(actual).filter((k) => k !== 'id' && !table.columns.some((c) => c.name === k));
  if (extra.length > 0) problems.push(`${where} ${table.name} id=${id}: unexpected fields ${extra.join(', ')}`);
  return problems;
}

function isZeroDate(value: string): boolean {
  return /^\d{4}-00-|^\d{4}-\d\d-00|^0000-/.test(value);
}

function withMicros(value: string): string {
  const dot = value.indexOf('.');
  return dot < 0 ? `${value}.000000` : value.slice(0, dot + 1) + value.slice(dot + 1).padEnd(6, '0');
}
