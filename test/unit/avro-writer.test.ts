import assert from 'node:assert/strict';
import type { Type } from 'avsc';
import { describe, it } from 'node:test';
import { avroType } from '../../src/core/avro-types.ts';
import { encodeFramed } from '../../src/core/avro-wire.ts';
import type { Row } from '../../src/core/change-event.ts';
import { envelopeSchema, flatValueSchema, keySchema } from '../../src/source/avro-schema.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';
import { seededRandom as random, pick } from '../helpers/seeded-random.ts';

/**
 * The source's writer (core/avro-writer.ts, through encodeFramed) against avsc's own encoding:
 * the same bytes for every column kind, nullable or not, and for whole envelopes; the same error
 * for every value avsc refuses.
 */

/** One column of each ColumnKind (change-event.ts), several for the kinds with variants. */
const COLUMNS = [
  { COLUMN_NAME: 'id', COLUMN_TYPE: 'bigint' },
  { COLUMN_NAME: 'i32', COLUMN_TYPE: 'int' },
  { COLUMN_NAME: 'ti', COLUMN_TYPE: 'tinyint' },
  { COLUMN_NAME: 'iu', COLUMN_TYPE: 'int unsigned' },
  { COLUMN_NAME: 'bu', COLUMN_TYPE: 'bigint unsigned' },
  { COLUMN_NAME: 'd', COLUMN_TYPE: 'decimal(10,4)' },
  { COLUMN_NAME: 'd0', COLUMN_TYPE: 'decimal(5,0)' },
  { COLUMN_NAME: 'wide', COLUMN_TYPE: 'decimal(65,30)' },
  { COLUMN_NAME: 'f', COLUMN_TYPE: 'float' },
  { COLUMN_NAME: 'db', COLUMN_TYPE: 'double' },
  { COLUMN_NAME: 'b1', COLUMN_TYPE: 'bit(1)' },
  { COLUMN_NAME: 's', COLUMN_TYPE: 'varchar(255)' },
  { COLUMN_NAME: 'e', COLUMN_TYPE: "enum('a','b')", ENUM_VALUES: ['a', 'b'] },
  { COLUMN_NAME: 'txt', COLUMN_TYPE: 'longtext' },
  { COLUMN_NAME: 'bin', COLUMN_TYPE: 'varbinary(8)' },
  { COLUMN_NAME: 'j', COLUMN_TYPE: 'json' },
  { COLUMN_NAME: 'g', COLUMN_TYPE: 'geometry' },
  { COLUMN_NAME: 'dt', COLUMN_TYPE: 'date' },
  { COLUMN_NAME: 'tm', COLUMN_TYPE: 'time(6)' },
  { COLUMN_NAME: 'dtm', COLUMN_TYPE: 'datetime(6)' },
  { COLUMN_NAME: 'ts', COLUMN_TYPE: 'timestamp(6)' },
  { COLUMN_NAME: 'col with space', COLUMN_TYPE: 'varchar(20)' },
];

/** Every column optional but the key (as the binlog reader derives it), and every column a key column (none optional). */
const TABLE = deriveTableSchema('shop', 'items', COLUMNS, [], [0]);
const ALL_KEY = deriveTableSchema(
  'shop',
  'all',
  COLUMNS,
  [],
  COLUMNS.map((_, i) => i),
);

const digits = (next: () => number, count: number) => Array.from({ length: count }, () => Math.floor(next() * 10)).join('');
const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Strings around the writer's edges: ASCII up to and past 64 characters, non-ASCII, lone surrogates, more than 64 KiB. */
const STRINGS = [
  '',
  'a',
  'x'.repeat(63),
  'x'.repeat(64),
  'x'.repeat(65),
  'ü"\\',
  `${'x'.repeat(62)}é`,
  '\u0000\u001f\u007f\u0080\u2028',
  '😀 emoji',
  'lone \ud800 high',
  'lone \udc00 low',
  `${'y'.repeat(70)}\ud800`,
  'ж'.repeat(40),
  'long '.repeat(14_000),
  'plain text',
];

function datetime(next: () => number): string {
  const year = pick(next, [1000, 1685, 1969, 1970, 2024, 2254, 2300, 9999]);
  const day = `${pad(year, 4)}-${pad(1 + Math.floor(next() * 12), 2)}-${pad(1 + Math.floor(next() * 28), 2)}`;
  return pick(next, [
    `${day}T00:00:00.000000`,
    `${day}T23:59:59.999999`,
    `${day}T${pad(Math.floor(next() * 24), 2)}:${pad(Math.floor(next() * 60), 2)}:${pad(Math.floor(next() * 60), 2)}.${digits(next, 6)}`,
  ]);
}

/** A canonical value of each column, edges included, or (`nulls`) sometimes null. */
function row(next: () => number, nulls: boolean): Row {
  const maybe = <T>(value: T): T | null => (nulls && next() < 0.15 ? null : value);
  const sign = () => (next() < 0.5 ? '-' : '');
  const bigints = [0n, -1n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 63n - 1n, -(2n ** 63n), BigInt(Math.floor(next() * 2 ** 52)), 2n ** 48n];
  return {
    id: pick(next, bigints),
    i32: maybe(pick(next, [0, -1, 2 ** 31 - 1, -(2 ** 31), Math.floor(next() * 1e6)])),
    ti: maybe(pick(next, [-128, 0, 127])),
    iu: maybe(pick(next, [0n, 4_294_967_295n, BigInt(Math.floor(next() * 1e9)), 0, 12345, 2 ** 52 - 1, -(2 ** 52) + 1])),
    bu: maybe(pick(next, ['0', '18446744073709551615', digits(next, 1 + Math.floor(next() * 19)).replace(/^0+(?=\d)/, '')])),
    d: maybe(pick(next, ['0', '0.0000', '-0.0001', '999999.9999', '-999999.9999', '12.5', `${sign()}${digits(next, 3).replace(/^0+(?=\d)/, '')}.${digits(next, 4)}`])),
    d0: maybe(pick(next, ['0', '-1', '127', '128', '-128', '-129', '99999', '-99999', '255', '256', '-32768'])),
    wide: maybe(pick(next, ['0', '-0.000000000000000000000000000001', `${sign()}${digits(next, 35).replace(/^0+(?=\d)/, '')}.${digits(next, 30)}`])),
    f: maybe(pick(next, [Math.fround(next() * 1e6), Number.NaN, Number.POSITIVE_INFINITY, -0, Math.fround(1e-40)])),
    db: maybe(pick(next, [next() * 1e300, -2.5e-300, Number.NEGATIVE_INFINITY, 2 ** 53 + 2, 0.1])),
    b1: maybe(next() < 0.5),
    s: maybe(pick(next, STRINGS)),
    e: maybe(pick(next, ['a', 'b'])),
    txt: maybe(pick(next, STRINGS)),
    bin: maybe(Buffer.from(Array.from({ length: pick(next, [0, 1, 8, 63, 64, 200]) }, () => Math.floor(next() * 256)))),
    j: maybe(pick(next, ['{"n":12345678901234567890}', '{\n  "pretty": [1, 2]\n}', '[]', '"ü"', 'null'])),
    g: maybe({ wkb: Buffer.from('0101000000000000000000f03f0000000000000040', 'hex'), srid: pick(next, [0, 4326, 4_294_967_295]) }),
    dt: maybe(pick(next, ['1969-12-31', '1970-01-01', '0001-01-01', '9999-12-31', '2024-02-29'])),
    tm: maybe(pick(next, ['-838:59:59.000001', '00:00:00.000000', '838:59:59.000000', `${pad(Math.floor(next() * 24), 2)}:30:00.${digits(next, 6)}`])),
    dtm: maybe(datetime(next)),
    ts: maybe(`${datetime(next)}Z`),
    'col with space': maybe(pick(next, ['x', ''])),
  };
}

/** A row as its Avro record: field names are the adjusted column names (EventEncoder's toRecord). */
function record(row: Row): Record<string, unknown> {
  return Object.fromEntries(Object.entries(row).map(([name, value]) => [name.replace(/[^A-Za-z0-9_]/g, '_'), value]));
}

/** An envelope as EventEncoder#encode builds it. */
function envelope(next: () => number, i: number): Record<string, unknown> {
  const op = pick(next, ['c', 'u', 'd', 'r']);
  return {
    before: op === 'u' || op === 'd' ? record(row(next, true)) : null,
    after: op === 'd' ? null : record(row(next, true)),
    source: {
      version: '0.1.0',
      connector: 'mariadb',
      name: 'cdc',
      source_id: 'source-ü',
      ts_ms: 1_700_000_000_000 + i,
      snapshot: pick(next, ['false', 'true', 'last', 'incremental']),
      db: 'shop',
      table: 'items',
      server_id: pick(next, [1, 4_294_967_295]),
      gtid: pick(next, [null, '0-1-42']),
      file: 'binlog.000001',
      pos: pick(next, [4 + i * 100, 2 ** 40]),
      row: i % 7,
      epoch: pick(next, [0, 3]),
    },
    op,
    ts_ms: Date.now(),
    transaction: next() < 0.5 ? null : { id: '0-1-42', total_order: BigInt(i + 1), data_collection_order: i + 1 },
  };
}

/** encodeFramed's Avro body, which must be avsc's toBuffer to the byte. */
function assertSameBytes(type: Type, value: unknown, what = ''): void {
  const framed = encodeFramed(7, type, value);
  assert.equal(framed[0], 0);
  assert.equal(framed.readInt32BE(1), 7);
  assert.deepEqual(framed.subarray(5), type.toBuffer(value), what);
}

/** Both refuse the value, with avsc's own error. */
function assertSameRefusal(type: Type, value: unknown, what: string): void {
  let avscError: Error | undefined;
  try {
    type.toBuffer(value);
  } catch (error) {
    avscError = error as Error;
  }
  assert.ok(avscError, `avsc refuses ${what}`);
  assert.throws(() => encodeFramed(7, type, value), { name: avscError.name, message: avscError.message }, what);
}

describe('Avro writer', () => {
  const valueType = avroType(envelopeSchema('cdc', TABLE) as never);
  const flatType = avroType(flatValueSchema('cdc', TABLE) as never);
  const keyType = avroType(keySchema('cdc', ALL_KEY) as never);

  it('writes avsc bytes for every column kind, nullable or not, and for whole envelopes', () => {
    const next = random(20260611);
    for (let i = 0; i < 3000; i++) {
      assertSameBytes(valueType, envelope(next, i), `envelope ${i}`);
      assertSameBytes(flatType, record(row(next, true)), `flat row ${i}`);
      assertSameBytes(keyType, record(row(next, false)), `key ${i}`);
    }
  });

  it('writes a missing field with a default as its default, as avsc does', () => {
    const next = random(7);
    const { transaction, ...withoutTransaction } = envelope(next, 1);
    const { epoch, snapshot, gtid, ...source } = withoutTransaction.source as Record<string, unknown>;
    assertSameBytes(valueType, { ...withoutTransaction, source, before: undefined, ts_ms: undefined });
    const { s, txt, ...partial } = record(row(next, false));
    assertSameBytes(flatType, partial);
  });

  it('refuses what avsc refuses, with its error', () => {
    const next = random(11);
    const key = record(row(next, false));
    const flat = record(row(next, false));
    const cases: Array<[what: string, field: string, value: unknown]> = [
      ['a string in an int field', 'i32', '12'],
      ['a fraction in an int field', 'i32', 1.5],
      ['a BigInt in an int field', 'i32', 5n],
      ['a Number beyond 2^53 in a long field', 'iu', 2 ** 60],
      ['a BigInt beyond 2^63 in a long field', 'iu', 2n ** 63n],
      ['a fraction in a long field', 'iu', 0.5],
      ['a malformed decimal', 'd', '1.2.3'],
      ['a decimal with too many fraction digits', 'd', '1.000001'],
      ['a number in a string field', 's', 12],
      ['a Buffer in a string field', 's', Buffer.from('x')],
      ['an array in a string field', 's', ['x']],
      ['an object in a string field', 's', { text: 'x' }],
      ['a string in a bytes field', 'bin', 'x'],
      ['a number in a boolean field', 'b1', 1],
      ['a string in a float field', 'f', '1.5'],
      ['a malformed date', 'dt', '2024-13-45x'],
      ['a malformed time', 'tm', '12:00'],
      ['a malformed datetime', 'dtm', 'yesterday'],
      ['a number in a json field', 'j', 12],
      ['a geometry without wkb', 'g', { srid: 0 }],
    ];
    for (const [what, field, value] of cases) {
      assertSameRefusal(keyType, { ...key, [field]: value }, `${what} (not null)`);
      assertSameRefusal(flatType, { ...flat, [field]: value }, `${what} (nullable)`);
    }
    for (const field of Object.keys(key)) {
      assertSameRefusal(keyType, { ...key, [field]: null }, `null in the non-optional ${field}`);
      assertSameRefusal(keyType, { ...key, [field]: undefined }, `undefined in the non-optional ${field}`);
    }
    assertSameRefusal(valueType, { ...envelope(next, 1), after: 'not a row' }, 'a string as a row');
    assertSameRefusal(valueType, { ...envelope(next, 1), after: [] }, 'an array as a row');
    assertSameRefusal(valueType, null, 'null as a record');
  });

  it('encodes records larger than a slab, and those that follow them, whole', () => {
    const big = (length: number) => ({ ...record(row(random(length), false)), s: 'é'.repeat(length), txt: 'x'.repeat(length) });
    for (const length of [10, 200_000, 300_000, 40, 1_000_000, 20]) assertSameBytes(flatType, big(length), `${length} characters`);
  });

  it('writes other unions and recursive records as avsc does', () => {
    const list = avroType({
      type: 'record',
      name: 'Node',
      fields: [
        { name: 'value', type: ['null', 'string', 'long'] },
        { name: 'next', type: ['null', 'Node'], default: null },
      ],
    } as never);
    const value = { value: 'a', next: { value: 2n, next: { value: null, next: { value: 'ü' } } } };
    assertSameBytes(list, value);
    assertSameRefusal(list, { value: true }, 'a boolean in a union without booleans');
  });
});
