import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Row, TableSchema } from '../../src/core/change-event.ts';
import { rowReader, type ZongjiColumn, type ZongjiParser, type ZongjiReadValue, type ZongjiTableMap } from '../../src/source/binlog-row-reader.ts';
import type { BinlogColumn } from '../../src/source/column-types.ts';
import { canonicalRow } from '../../src/source/table-reader.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';
import { seededRandom as randomFrom } from '../helpers/seeded-random.ts';

const require = createRequire(import.meta.url);
const LIB = join(dirname(require.resolve('@vlasky/zongji')), 'lib');
/** zongji's own value reader and parser (not patched: this test is the oracle for the patch). */
const { readMysqlValue } = (await import(pathToFileURL(join(LIB, 'common.js')).href)) as { readMysqlValue: ZongjiReadValue };
const { Parser } = (await import(pathToFileURL(join(LIB, 'reader.js')).href)) as { Parser: new () => ZongjiParser & { append(buffer: Buffer): void } };
/** The connection options the binlog reader gives zongji. */
const ZONGJI = { connection: { config: { dateStrings: true, timezone: 'Z', jsonStrings: true } }, emit() {} };

const random = randomFrom(17);
const below = (n: number) => Math.floor(random() * n);
const pick = <T>(values: readonly T[]): T => values[below(values.length)]!;

/** One column of the test table: what the table map says, and a writer of one random stored value. */
interface TestColumn {
  schema: BinlogColumn & { CHARACTER_SET_NAME?: string | null };
  map: Omit<ZongjiColumn, 'name'>;
  value(): Buffer;
}

function uint(bytes: number, value: number, bigEndian = false): Buffer {
  const buffer = Buffer.alloc(bytes);
  if (bigEndian) buffer.writeUIntBE(value, 0, bytes);
  else buffer.writeUIntLE(value, 0, bytes);
  return buffer;
}

function randomBytes(bytes: number): Buffer {
  return Buffer.from(Array.from({ length: bytes }, () => below(256)));
}

const TEXTS = ['', 'a', 'plain ascii text', 'ünïcödé', '漢字かな', '😀 emoji 🎉', ' trailing ', 'tab\tand\nline', '\uFFFD stored'];
const INVALID_UTF8 = [Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff, 0x41]), Buffer.from([0xc3])];

function textBytes(): Buffer {
  if (below(10) === 0) return pick(INVALID_UTF8);
  const text = Array.from({ length: below(4) }, () => pick(TEXTS)).join('');
  return Buffer.from(below(20) === 0 ? 'x'.repeat(300) + text : text, 'utf8');
}

function lengthPrefixed(prefix: number, body: Buffer): Buffer {
  return Buffer.concat([uint(prefix, body.length), body]);
}

const PARTIAL_BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

/** A DECIMAL(precision, scale) as MySQL stores it, with random digits (leading zeros and all nines included). */
function decimalBytes(precision: number, scale: number): Buffer {
  const digitsOf = (count: number) => Array.from({ length: count }, () => String(pick([0, 0, 9, below(10)]))).join('');
  const integral = digitsOf(precision - scale);
  const fraction = digitsOf(scale);
  const parts: Buffer[] = [];
  const lead = (precision - scale) % 9;
  if (lead > 0) parts.push(uint(PARTIAL_BYTES[lead]!, Number(integral.slice(0, lead)), true));
  for (let i = lead; i < integral.length; i += 9) parts.push(uint(4, Number(integral.slice(i, i + 9)), true));
  for (let i = 0; i + 9 <= fraction.length; i += 9) parts.push(uint(4, Number(fraction.slice(i, i + 9)), true));
  const trail = scale % 9;
  if (trail > 0) parts.push(uint(PARTIAL_BYTES[trail]!, Number(fraction.slice(scale - trail)), true));
  const bytes = Buffer.concat(parts);
  if (below(2) === 0) for (let i = 0; i < bytes.length; i++) bytes[i] = ~bytes[i]! & 0xff;
  bytes[0]! ^= 0x80;
  return bytes;
}

/** A fraction of `digits` digits as DATETIME2/TIMESTAMP2/TIME2 store it: big-endian, an odd count times ten. */
function fractionBytes(digits: number): Buffer {
  if (digits === 0) return Buffer.alloc(0);
  const value = below(2) === 0 ? 0 : below(10 ** digits);
  return uint((digits + 1) >> 1, digits % 2 ? value * 10 : value, true);
}

const day = () => (below(8) === 0 ? 0 : 1 + below(31));
const month = () => (below(8) === 0 ? 0 : 1 + below(12));
const year = () => (below(8) === 0 ? 0 : below(10_000));

function columns(): TestColumn[] {
  const list: TestColumn[] = [];
  const add = (type: number, COLUMN_TYPE: string, metadata: Record<string, number> | null, value: () => Buffer, extra: Partial<TestColumn['schema']> = {}, charset: string | null = null) => {
    list.push({ schema: { COLUMN_NAME: `c${list.length}`, COLUMN_TYPE, ...extra }, map: { type, charset, metadata }, value });
  };
  for (const [type, name, bytes] of [
    [1, 'tinyint', 1],
    [2, 'smallint', 2],
    [9, 'mediumint', 3],
    [3, 'int', 4],
  ] as const) {
    add(type, name, null, () => randomBytes(bytes));
    add(type, `${name} unsigned`, null, () => randomBytes(bytes), { UNSIGNED: true });
  }
  add(8, 'bigint', null, () => randomBytes(8));
  add(8, 'bigint unsigned', null, () => randomBytes(8), { UNSIGNED: true });
  add(4, 'float', null, () => randomBytes(4));
  add(5, 'double', null, () => randomBytes(8));
  for (const [precision, scale] of [
    [1, 0],
    [5, 2],
    [10, 0],
    [12, 2],
    [18, 9],
    [20, 0],
    [30, 10],
    [65, 30],
    [9, 9],
    [38, 17],
  ] as const) {
    add(246, `decimal(${precision},${scale})`, { precision, decimals: scale }, () => decimalBytes(precision, scale));
  }
  for (const [type, sqlType, meta, prefix] of [
    [15, 'varchar(40)', { max_length: 160 }, 1],
    [15, 'varchar(1000)', { max_length: 4000 }, 2],
    [254, 'char(10)', { max_length: 40 }, 1],
    [252, 'text', { length_size: 2 }, 2],
    [249, 'tinytext', { length_size: 1 }, 1],
    [251, 'longtext', { length_size: 4 }, 4],
  ] as const) {
    for (const charset of ['utf8mb4', 'utf8mb3', null])
      add(type, sqlType, meta, () => lengthPrefixed(prefix, textBytes().subarray(0, prefix === 1 ? 255 : undefined)), { CHARACTER_SET_NAME: charset }, charset);
  }
  // Left to zongji: other charsets, binary strings, and the types this reader does not decode.
  add(15, 'varchar(20)', { max_length: 20 }, () => lengthPrefixed(1, randomBytes(below(20))), { CHARACTER_SET_NAME: 'latin1' }, 'latin1');
  add(15, 'varbinary(20)', { max_length: 20 }, () => lengthPrefixed(1, randomBytes(below(20))));
  add(254, 'binary(4)', { max_length: 4 }, () => lengthPrefixed(1, randomBytes(below(5))));
  add(13, 'year', null, () => randomBytes(1));
  add(16, 'bit(3)', { bits: 3 }, () => randomBytes(1));
  add(19, 'time(3)', { decimals: 3 }, () => Buffer.concat([uint(3, 0x800000 + below(0x7fffff), true), fractionBytes(3)]));
  add(248, "set('a','b','c')", { size: 1 }, () => uint(1, below(8)), { SET_VALUES: ['a', 'b', 'c'] });
  add(247, "enum('debit','credit','')", { size: 1 }, () => uint(1, below(5)), { ENUM_VALUES: ['debit', 'credit', ''] });
  add(247, "enum('x','y')", { size: 2 }, () => uint(2, below(4)), { ENUM_VALUES: ['x', 'y'] });
  add(10, 'date', null, () => uint(3, (year() << 9) | (month() << 5) | day()));
  for (const decimals of [0, 1, 2, 3, 4, 5, 6]) {
    add(18, `datetime(${decimals})`, { decimals }, () => {
      const packed = 2 ** 39 + (year() * 13 + month()) * 2 ** 22 + day() * 2 ** 17 + below(24) * 2 ** 12 + below(60) * 2 ** 6 + below(60);
      return Buffer.concat([uint(5, packed, true), fractionBytes(decimals)]);
    });
    add(17, `timestamp(${decimals})`, { decimals }, () => Buffer.concat([uint(4, below(3) === 0 ? 0 : below(2 ** 31), true), fractionBytes(decimals)]));
  }
  return list;
}

function bitmap(bits: boolean[]): Buffer {
  const bytes = Buffer.alloc((bits.length + 7) >> 3);
  bits.forEach((bit, i) => {
    if (bit) bytes[i >> 3]! |= 1 << (i & 7);
  });
  return bytes;
}

/** zongji's own readRow (rows_event.js), over its unpatched value reader. */
function zongjiRow(parser: ZongjiParser, map: Required<ZongjiTableMap>, present: Buffer): Record<string, unknown> {
  let presentCount = 0;
  for (let i = 0; i < map.columns.length; i++) if (present[i >> 3]! & (1 << (i & 7))) presentCount++;
  const nulls = Buffer.from(parser._buffer.subarray(parser._offset, parser._offset + ((presentCount + 7) >> 3)));
  parser._offset += nulls.length;
  const row: Record<string, unknown> = {};
  for (let i = 0, nullBit = 0; i < map.columns.length; i++) {
    const column = map.columns[i]!;
    if ((present[i >> 3]! & (1 << (i & 7))) === 0) {
      row[column.name] = null;
      continue;
    }
    row[column.name] = nulls[nullBit >> 3]! & (1 << (nullBit & 7)) ? null : readMysqlValue(parser, column, map.columnSchemas[i], map, ZONGJI);
    nullBit++;
  }
  return row;
}

function table(list: TestColumn[], zeroDates?: { mode: 'null' | 'sentinel'; sentinel: string }): { schema: TableSchema; map: Required<ZongjiTableMap> } {
  const schema = deriveTableSchema(
    'db',
    't',
    list.map((c) => c.schema),
    list.map((c) => c.map.type),
    [0],
    zeroDates,
  );
  const map = {
    columns: list.map((c) => ({ name: c.schema.COLUMN_NAME, ...c.map })),
    columnSchemas: list.map((c) => ({ ...c.schema })),
  };
  return { schema, map };
}

describe('binlog row reader', () => {
  it('reads every row image as zongji and canonicalRow() do, value for value, ending where zongji ends', () => {
    const list = columns();
    for (const zeroDates of [undefined, { mode: 'sentinel' as const, sentinel: '1970-01-01' }]) {
      const { schema, map } = table(list, zeroDates);
      const reader = rowReader(schema, map);
      assert.ok(reader);
      for (let n = 0; n < 3000; n++) {
        const present = list.map((_, i) => i === 0 || below(10) !== 0);
        const nullable = present.filter(Boolean).map((_, i) => i > 0 && below(6) === 0);
        let nullIndex = 0;
        const values = list.flatMap((column, i) => (present[i] && !nullable[nullIndex++] ? [column.value()] : []));
        const bytes = Buffer.concat([bitmap(nullable), ...values, Buffer.from('tail')]);
        const presentBits = bitmap(present);
        const theirs = new Parser();
        theirs.append(bytes);
        const expected = canonicalRow(schema, zongjiRow(theirs, map, presentBits));
        const ours = new Parser();
        ours.append(bytes);
        const row: Row = reader(ours, presentBits, ZONGJI, readMysqlValue);
        assert.deepEqual(row, expected, `row ${n}`);
        assert.deepEqual(Object.keys(row), Object.keys(expected));
        assert.equal(ours._offset, theirs._offset, `row ${n}: end`);
      }
    }
  });

  it('leaves a table map that does not match the schema column for column to zongji', () => {
    const list = columns().slice(0, 3);
    const { schema, map } = table(list);
    assert.equal(rowReader(schema, { ...map, columns: map.columns.slice(0, 2) }), undefined);
    assert.equal(rowReader(schema, { ...map, columns: [map.columns[1]!, map.columns[0]!, map.columns[2]!] }), undefined);
    assert.equal(rowReader(schema, { columnSchemas: map.columnSchemas }), undefined);
  });

  it('decodes the types it reads itself, not through zongji', () => {
    const own = columns().filter((c) => ![13, 16, 19, 248].includes(c.map.type) && c.map.charset !== 'latin1' && !/binary/.test(c.schema.COLUMN_TYPE));
    const { schema, map } = table(own);
    const reader = rowReader(schema, map)!;
    const parser = new Parser();
    parser.append(Buffer.concat([bitmap(own.map(() => false)), ...own.map((c) => c.value())]));
    let called = 0;
    reader(parser, bitmap(own.map(() => true)), ZONGJI, (...args) => {
      called++;
      return readMysqlValue(...args);
    });
    assert.equal(called, 0);
  });
});
