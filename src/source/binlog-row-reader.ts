import type { ColumnDef, ColumnValue, Row, TableSchema } from '../core/change-event.ts';
import { canonicalValue } from './column-types.ts';
import { countLossy, lossyKind } from './lossy-values.ts';

/**
 * Reads a rows event's row images straight into canonical rows: zongji decodes every value into a
 * row of its own (datetimes as text with a space, decimals through a copied buffer, integers by
 * sign-flipping arithmetic) and canonicalRow() then made a second row of converted values; in the
 * source's profile the two took a quarter of its busy time. Here the common types are decoded
 * from the event's bytes once, into the value canonicalValue() would have made of zongji's; every
 * other type (and a column whose charset is not UTF-8) is read by zongji's own reader and
 * converted as before. The unit test compares both ways value by value.
 */

/** A column of zongji's table map: its binlog type code, charset and per-type metadata. */
export interface ZongjiColumn {
  name: string;
  type: number;
  charset?: string | null | undefined;
  metadata?: Record<string, number> | null;
}

/** zongji's table map of one table, as its rows events read values by it. */
export interface ZongjiTableMap {
  columns?: ZongjiColumn[];
  columnSchemas: Array<{ COLUMN_TYPE: string; UNSIGNED?: boolean; ENUM_VALUES?: string[] }>;
}

/** zongji's packet parser: the event's bytes and where the next value starts. */
export interface ZongjiParser {
  _buffer: Buffer;
  _offset: number;
}

/** zongji's `readMysqlValue(parser, column, columnSchema, tableMap, zongji)`. */
export type ZongjiReadValue = (parser: ZongjiParser, column: ZongjiColumn, columnSchema: unknown, tableMap: ZongjiTableMap, zongji: unknown) => unknown;

/** Reads one row image; `present` is the event's columns-present bitmap. */
export type RowReader = (parser: ZongjiParser, present: Buffer, zongji: unknown, readValue: ZongjiReadValue) => Row;

/** MySQL binlog type codes this reader decodes itself. */
const TINY = 1;
const SHORT = 2;
const LONG = 3;
const FLOAT = 4;
const DOUBLE = 5;
const LONGLONG = 8;
const INT24 = 9;
const DATE = 10;
const VARCHAR = 15;
const TIMESTAMP2 = 17;
const DATETIME2 = 18;
const NEWDECIMAL = 246;
const ENUM = 247;
const TINY_BLOB = 249;
const BLOB = 252;
const STRING = 254;

/** How a column is read: one of these per column, chosen once per table map. */
const Read = { Zongji: 0, Int: 1, Long: 2, Float: 3, Double: 4, Decimal: 5, Text: 6, Enum: 7, Date: 8, Datetime: 9, Timestamp: 10 } as const;
type Read = (typeof Read)[keyof typeof Read];

interface ColumnPlan {
  read: Read;
  def: ColumnDef;
  column: ZongjiColumn;
  columnSchema: ZongjiTableMap['columnSchemas'][number];
  /** Int: bytes; Text: bytes of the length prefix; Enum: bytes of the index; temporal: fraction digits. */
  width: number;
  unsigned: boolean;
  /** Decimal: digits before and after the point. */
  integral: number;
  scale: number;
  symbols: string[] | undefined;
}

/** zongji decodes text of these charsets (or of none) as UTF-8 (its decodeTextColumn). */
const UTF8_CHARSETS = new Set([undefined, null, '', 'utf8', 'utf8mb3', 'utf8mb4']);

/**
 * The reader of `schema`'s rows as `tableMap` lays them out, or undefined when the two do not
 * match column for column (then zongji's rows and canonicalRow() serve).
 */
export function rowReader(schema: TableSchema, tableMap: ZongjiTableMap): RowReader | undefined {
  const columns = tableMap.columns;
  if (!columns || columns.length !== schema.columns.length || tableMap.columnSchemas.length < columns.length) return undefined;
  const plans: ColumnPlan[] = [];
  for (let i = 0; i < columns.length; i++) {
    const def = schema.columns[i]!;
    if (def.name !== columns[i]!.name) return undefined;
    plans.push(planOf(def, columns[i]!, tableMap.columnSchemas[i]!));
  }
  return (parser, present, zongji, readValue) => readRow(parser, present, plans, schema, tableMap, zongji, readValue);
}

function planOf(def: ColumnDef, column: ZongjiColumn, columnSchema: ColumnPlan['columnSchema']): ColumnPlan {
  // zongji's signedness rule (parseAnyInt): the binlog's own flag, else the declared type.
  const unsigned = columnSchema.UNSIGNED ?? columnSchema.COLUMN_TYPE.includes('unsigned');
  const plan: ColumnPlan = { read: Read.Zongji, def, column, columnSchema, width: 0, unsigned, integral: 0, scale: 0, symbols: undefined };
  const metadata = column.metadata ?? {};
  const utf8 = UTF8_CHARSETS.has(column.charset);
  switch (column.type) {
    case TINY:
    case SHORT:
    case INT24:
    case LONG:
      if (def.kind === 'int32' || def.kind === 'int64' || def.kind === 'decimal') Object.assign(plan, { read: Read.Int, width: [0, 1, 2, 4, 0, 0, 0, 0, 0, 3][column.type] });
      break;
    case LONGLONG:
      if (def.kind === 'int64' || def.kind === 'decimal') plan.read = Read.Long;
      break;
    case FLOAT:
      if (def.kind === 'float32' || def.kind === 'float64') plan.read = Read.Float;
      break;
    case DOUBLE:
      if (def.kind === 'float32' || def.kind === 'float64') plan.read = Read.Double;
      break;
    case NEWDECIMAL:
      if (def.kind === 'decimal' && metadata.precision !== undefined && metadata.decimals !== undefined)
        Object.assign(plan, { read: Read.Decimal, integral: metadata.precision - metadata.decimals, scale: metadata.decimals });
      break;
    case VARCHAR:
    case STRING:
      // Binary, UUID, INET and VECTOR columns ride on these types too: their kind is bytes.
      if (def.kind === 'string' && !def.symbols && utf8 && metadata.max_length !== undefined) Object.assign(plan, { read: Read.Text, width: metadata.max_length > 255 ? 2 : 1 });
      break;
    case TINY_BLOB:
    case TINY_BLOB + 1:
    case TINY_BLOB + 2:
    case BLOB:
      if ((def.kind === 'string' || def.kind === 'json') && utf8 && metadata.length_size !== undefined) Object.assign(plan, { read: Read.Text, width: metadata.length_size });
      break;
    case ENUM:
      if (def.kind === 'string' && def.symbols && def.sqlType.startsWith('enum') && columnSchema.ENUM_VALUES && metadata.size !== undefined)
        Object.assign(plan, { read: Read.Enum, width: metadata.size, symbols: columnSchema.ENUM_VALUES });
      break;
    case DATE:
      if (def.kind === 'date') plan.read = Read.Date;
      break;
    case DATETIME2:
      if (def.kind === 'datetime' && metadata.decimals !== undefined) Object.assign(plan, { read: Read.Datetime, width: metadata.decimals });
      break;
    case TIMESTAMP2:
      if (def.kind === 'timestamp' && metadata.decimals !== undefined) Object.assign(plan, { read: Read.Timestamp, width: metadata.decimals });
      break;
  }
  return plan;
}

function readRow(parser: ZongjiParser, present: Buffer, plans: ColumnPlan[], schema: TableSchema, tableMap: ZongjiTableMap, zongji: unknown, readValue: ZongjiReadValue): Row {
  let presentCount = 0;
  for (let i = 0; i < present.length; i++) presentCount += bitCount(present[i]!);
  const buffer = parser._buffer;
  const nulls = parser._offset;
  let at = nulls + ((presentCount + 7) >> 3);
  const row: Row = {};
  for (let i = 0, nullBit = 0; i < plans.length; i++) {
    const plan = plans[i]!;
    const def = plan.def;
    // An absent column (a minimal row image) is null, as zongji has it.
    if ((present[i >> 3]! & (1 << (i & 7))) === 0) {
      row[def.name] = null;
      continue;
    }
    const isNull = (buffer[nulls + (nullBit >> 3)]! & (1 << (nullBit & 7))) !== 0;
    nullBit++;
    let value: ColumnValue | undefined;
    if (isNull) value = null;
    else {
      switch (plan.read) {
        case Read.Int: {
          const width = plan.width;
          let raw = buffer.readUIntLE(at, width);
          if (!plan.unsigned && raw >= 2 ** (8 * width - 1)) raw -= 2 ** (8 * width);
          at += width;
          value = def.kind === 'int32' ? raw : def.kind === 'int64' ? BigInt(raw) : String(raw);
          break;
        }
        case Read.Long:
          value = plan.unsigned ? buffer.readBigUInt64LE(at) : buffer.readBigInt64LE(at);
          if (def.kind === 'decimal') value = value.toString();
          at += 8;
          break;
        case Read.Float:
          value = buffer.readFloatLE(at);
          at += 4;
          break;
        case Read.Double:
          value = buffer.readDoubleLE(at);
          at += 8;
          break;
        case Read.Decimal:
          value = decimalText(buffer, at, plan.integral, plan.scale);
          at += decimalBytes(plan.integral) + decimalBytes(plan.scale);
          break;
        case Read.Text: {
          const length = buffer.readUIntLE(at, plan.width);
          at += plan.width;
          value = buffer.toString('utf8', at, at + length);
          at += length;
          break;
        }
        case Read.Enum: {
          const index = buffer.readUIntLE(at, plan.width);
          at += plan.width;
          // Index 0 is the error value, which names no symbol: read as '' (see lossy-values.ts).
          value = plan.symbols![index - 1] ?? '';
          break;
        }
        case Read.Date: {
          const packed = buffer.readUIntLE(at, 3);
          at += 3;
          const year = (packed >> 9) & 0x7fff;
          const month = (packed >> 5) & 0xf;
          const day = packed & 0x1f;
          value = isZeroDay(year, month, day) ? (def.zeroDate ?? null) : textOf(putDay(year, month, day));
          break;
        }
        case Read.Datetime: {
          const high = buffer.readInt32BE(at);
          const low = buffer.readInt32BE(at + 1);
          const micros = fractionMicros(buffer, at + 5, plan.width);
          const yearMonth = (high >>> 14) & 0x1ffff;
          const year = Math.floor(yearMonth / 13);
          const month = yearMonth % 13;
          const day = (low >>> 17) & 0x1f;
          // A fraction zongji would print as no number of microseconds (never written by a server): its reader decides.
          if (micros < 0) break;
          value = isZeroDay(year, month, day) ? (def.zeroDate ?? null) : textOf(putTime(putDay(year, month, day), (low >>> 12) & 0x1f, (low >>> 6) & 0x3f, low & 0x3f, micros));
          at += 5 + ((plan.width + 1) >> 1);
          break;
        }
        case Read.Timestamp: {
          const seconds = buffer.readInt32BE(at);
          const micros = fractionMicros(buffer, at + 4, plan.width);
          if (micros < 0) break;
          value = seconds === 0 && micros === 0 ? (def.zeroDate ?? null) : textOf(putUtc(seconds, micros));
          at += 4 + ((plan.width + 1) >> 1);
          break;
        }
      }
      if (value === undefined) {
        // A type (or a value) this reader leaves to zongji's reader, converted as canonicalRow() does.
        parser._offset = at;
        value = canonicalValue(def, readValue(parser, plan.column, plan.columnSchema, tableMap, zongji));
        at = parser._offset;
      }
    }
    row[def.name] = value;
    const lossy = lossyKind(def, value);
    if (lossy) countLossy(schema, def, lossy);
  }
  parser._offset = at;
  return row;
}

function bitCount(byte: number): number {
  let n = byte - ((byte >> 1) & 0x55);
  n = (n & 0x33) + ((n >> 2) & 0x33);
  return (n + (n >> 4)) & 0x0f;
}

/** Bytes of a DECIMAL part of `digits` digits: 4 per 9, and 0–4 for the rest. */
const PARTIAL_BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
function decimalBytes(digits: number): number {
  return Math.floor(digits / 9) * 4 + PARTIAL_BYTES[digits % 9]!;
}

/** A date naming no day: it becomes the column's zero date (see isZeroDate). */
function isZeroDay(year: number, month: number, day: number): boolean {
  return year === 0 || month === 0 || day === 0;
}

/**
 * Where values are written as ASCII before they become strings: one string made from bytes is
 * flat, where a string built by concatenation is a rope that the Avro conversion (which reads
 * character codes) would flatten again.
 */
const TEXT = Buffer.alloc(80);

function textOf(end: number, start = 0): string {
  return TEXT.toString('latin1', start, end);
}

/** Writes `value` as `width` digits at `at` (the last `width` digits, as zongji's zeroPad keeps); returns the end. */
function putDigits(at: number, value: number, width: number): number {
  for (let k = at + width - 1; k >= at; k--) {
    TEXT[k] = 0x30 + (value % 10);
    value = Math.floor(value / 10);
  }
  return at + width;
}

/** `YYYY-MM-DD` at the start of TEXT; returns its end. */
function putDay(year: number, month: number, day: number): number {
  putDigits(0, year, 4);
  TEXT[4] = 0x2d;
  putDigits(5, month, 2);
  TEXT[7] = 0x2d;
  return putDigits(8, day, 2);
}

/** `THH:MM:SS.ffffff` at `at`; returns its end. */
function putTime(at: number, hour: number, minute: number, second: number, micros: number): number {
  TEXT[at] = 0x54;
  putDigits(at + 1, hour, 2);
  TEXT[at + 3] = 0x3a;
  putDigits(at + 4, minute, 2);
  TEXT[at + 6] = 0x3a;
  putDigits(at + 7, second, 2);
  TEXT[at + 9] = 0x2e;
  return putDigits(at + 10, micros, 6);
}

/** `YYYY-MM-DDTHH:MM:SS.ffffffZ` in UTC of seconds since the epoch (the civil-from-days algorithm). */
function putUtc(seconds: number, micros: number): number {
  const days = Math.floor(seconds / 86400);
  const rest = seconds - days * 86400;
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const dayOfEra = z - era * 146097;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36524) - Math.floor(dayOfEra / 146096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const mp = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  const end = putTime(putDay(year, month, day), Math.floor(rest / 3600), Math.floor((rest % 3600) / 60), rest % 60, micros);
  TEXT[end] = 0x5a;
  return end + 1;
}

/**
 * Microseconds of a temporal value's fraction of `digits` digits, read as zongji's
 * readTemporalFraction does; -1 for a fraction that is no whole number of them.
 */
function fractionMicros(buffer: Buffer, at: number, digits: number): number {
  if (digits === 0) return 0;
  let value = buffer.readIntBE(at, (digits + 1) >> 1);
  if (digits % 2 !== 0) value /= 10;
  if (value < 0) value = -value;
  return Number.isInteger(value) && value < 10 ** digits ? value * 10 ** (6 - digits) : -1;
}

/**
 * A DECIMAL's text as zongji writes it (parseNewDecimal): the sign bit of the first byte flipped,
 * a negative number's bytes inverted, groups of up to nine digits; the integer part without
 * leading zeros (at least one digit), the fraction with all its digits. undefined for a group
 * that holds more digits than it may (never written by a server): zongji's reader decides.
 */
function decimalText(buffer: Buffer, start: number, integral: number, scale: number): string | undefined {
  const negative = (buffer[start]! & 0x80) === 0;
  let at = start;
  let end = 1;
  const lead = integral % 9;
  if (lead > 0) {
    end = putGroup(buffer, at, lead, start, negative, end);
    at += PARTIAL_BYTES[lead]!;
  }
  for (let i = Math.floor(integral / 9); i > 0 && end > 0; i--, at += 4) end = putGroup(buffer, at, 9, start, negative, end);
  if (end < 0) return undefined;
  if (end === 1) TEXT[end++] = 0x30;
  let first = 1;
  while (first < end - 1 && TEXT[first] === 0x30) first++;
  if (negative) TEXT[--first] = 0x2d;
  if (scale === 0) return textOf(end, first);
  TEXT[end++] = 0x2e;
  for (let i = Math.floor(scale / 9); i > 0 && end > 0; i--, at += 4) end = putGroup(buffer, at, 9, start, negative, end);
  if (scale % 9 > 0 && end > 0) end = putGroup(buffer, at, scale % 9, start, negative, end);
  return end < 0 ? undefined : textOf(end, first);
}

/**
 * Writes one digit group of a DECIMAL at `end` and returns the new end: `digits` digits, stored
 * big-endian with the value's first byte (`signByte`) sign-flipped and a negative value's bytes
 * inverted; -1 when the group holds a larger number.
 */
function putGroup(buffer: Buffer, at: number, digits: number, signByte: number, negative: boolean, end: number): number {
  const bytes = digits === 9 ? 4 : PARTIAL_BYTES[digits]!;
  let value = 0;
  for (let k = at; k < at + bytes; k++) {
    let byte = buffer[k]!;
    if (k === signByte) byte ^= 0x80;
    if (negative) byte ^= 0xff;
    value = value * 256 + byte;
  }
  return value < 10 ** digits ? putDigits(end, value, digits) : -1;
}
