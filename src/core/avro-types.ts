import avro from 'avsc';

/**
 * The avsc options both services use, so that every value crosses Avro exactly:
 * - `long` is a 64-bit BigInt type (avsc's default refuses values beyond 2^53);
 * - `decimal` (bytes) ↔ exact decimal string, `date` (int) ↔ `YYYY-MM-DD`,
 *   `time-micros`, `local-timestamp-micros`, `timestamp-micros` (long) ↔ canonical strings
 *   (see ColumnKind in change-event.ts);
 * - `json` (string, our own logical type) ↔ JsonText on decode, so the sink can embed the
 *   stored JSON text verbatim (integers beyond 2^53 stay exact).
 * Readers that do not know a logical type fall back to the underlying type, as Avro specifies.
 */

/** Full name of the record GEOMETRY columns are (see source/avro-schema.ts), as Debezium names it. */
export const GEOMETRY_NAME = 'io.debezium.data.geometry.Geometry';

const MICROS_PER_DAY = 86_400_000_000n;
export const MICROS_PER_DAY_NUMBER = 86_400_000_000;
const MS_PER_DAY = 86_400_000;

/** The range of an Avro long; avsc checks union branches with isValid for every value written. */
const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** avsc packs the 8 bytes toBuffer returns into the record at once: one scratch buffer serves every long. */
const longScratch = Buffer.alloc(8);

const exactLong = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint | number) => {
    longScratch.writeBigInt64LE(typeof n === 'bigint' ? n : BigInt(n));
    return longScratch;
  },
  fromJSON: (n: unknown) => BigInt(n as string),
  toJSON: (n: bigint) => (n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString()),
  isValid: (n: unknown) => (typeof n === 'bigint' ? n >= LONG_MIN && n <= LONG_MAX : Number.isSafeInteger(n)),
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/** Longs within ±2^48 take at most 7 varint bytes: avsc's Number arithmetic reads those exactly. */
const MAX_SMALL_VARINT_BYTES = 7;
/**
 * avsc writes a Number long by halving its zigzag value (below 2^53, so every step is exact) and
 * masking the low bits: exact within ±2^52, which holds every microsecond timestamp until the year
 * 2112 (those were above ±2^48 and took the 8-byte path, a buffer per value).
 */
const NUMBER_WRITE_LIMIT = 2 ** 52;
const NUMBER_WRITE_LIMIT_BIG = BigInt(NUMBER_WRITE_LIMIT);

interface AvroTap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  writeLong(n: number): void;
}

/** avsc's own read and write of a type (not in its typings). */
interface TapCodec {
  _read(tap: AvroTap): bigint;
  _write(tap: AvroTap, value: bigint | number): void;
}

// Every long of every record passes here: avsc's abstract long goes through an 8-byte buffer both
// ways (a BigInt written into it, then re-packed bit by bit), which showed in the profiles. Values
// within ±2^48 (row ids, positions, millisecond times) are read, and values within ±2^52 (these and
// microsecond times) written, by avsc's Number varint instead; larger ones keep the exact path. So
// does any other value, whose check refuses it: null or '12' compare with a BigInt as 0 and 12
// would, and must not be written as those. avsc freezes the type it makes, so this one inherits
// from it.
const exact = exactLong as unknown as TapCodec;
const bigIntLong: avro.Type = Object.create(exactLong, {
  _read: {
    value(tap: AvroTap): bigint {
      const { buf, pos } = tap;
      let end = pos;
      while (end - pos < MAX_SMALL_VARINT_BYTES && (buf[end]! & 0x80) !== 0) end++;
      return end - pos < MAX_SMALL_VARINT_BYTES ? BigInt(tap.readLong()) : exact._read(tap);
    },
  },
  _write: {
    value(tap: AvroTap, value: bigint | number): void {
      if (
        typeof value === 'number'
          ? Number.isInteger(value) && value > -NUMBER_WRITE_LIMIT && value < NUMBER_WRITE_LIMIT
          : typeof value === 'bigint' && value > -NUMBER_WRITE_LIMIT_BIG && value < NUMBER_WRITE_LIMIT_BIG
      ) {
        tap.writeLong(Number(value));
      } else exact._write(tap, value);
    },
  },
});

/** The JSON text of a JSON column, kept as text so no number is rounded. */
export class JsonText {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

const UNSET = Symbol('unset');

/**
 * A logical type that remembers its last conversion to Avro: these conversions (a decimal's bytes,
 * a datetime's microseconds) showed in the source's profiles, and consecutive rows often repeat a
 * column's value (every row of a statement that sets NOW(); the bench's datetimes). avsc's own
 * write of a nullable field also converts twice, to pick the union's branch and to write it
 * (core/avro-writer.ts converts once). Values are strings and numbers, so the same value converts
 * the same.
 */
abstract class ConvertOnceType extends avro.types.LogicalType {
  #lastValue: unknown = UNSET;
  #lastAvro: unknown;
  protected override _toValue(value: unknown): unknown {
    if (value !== this.#lastValue) {
      this.#lastAvro = this.toAvro(value);
      this.#lastValue = value;
    }
    return this.#lastAvro;
  }
  protected abstract toAvro(value: unknown): unknown;
}

class DecimalType extends ConvertOnceType {
  readonly scale: number;
  readonly precision: number;
  constructor(schema: avro.Schema, opts?: unknown) {
    super(schema, opts);
    const { scale = 0, precision } = schema as { scale?: number; precision?: number };
    if (typeof precision !== 'number') throw new Error('decimal needs a precision');
    this.scale = scale;
    this.precision = precision;
  }
  protected override _fromValue(buf: Buffer): string {
    return formatUnscaled(bytesToBigInt(buf), this.scale);
  }
  /** Where a decimal of up to 14 digits is written: views of one scratch buffer, by byte length. */
  readonly #scratch = Buffer.alloc(SMALL_DECIMAL_BYTES);
  readonly #views = Array.from({ length: SMALL_DECIMAL_BYTES + 1 }, (_, length) => this.#scratch.subarray(0, length));
  /**
   * A view of the scratch buffer serves because the converted bytes are written at once (and
   * ConvertOnceType hands the same view to avsc's write that follows its union's check).
   */
  protected override toAvro(value: unknown): Buffer {
    const text = String(value);
    const unscaled = smallUnscaled(text, this.scale);
    if (unscaled === undefined) return bigIntToBytes(parseUnscaled(text, this.scale));
    const length = twosComplementBytes(unscaled);
    this.#scratch.writeIntBE(unscaled, 0, length);
    return this.#views[length]!;
  }
  protected override _resolve(type: avro.Type): unknown {
    if (type instanceof DecimalType && type.scale === this.scale) return (v: unknown) => v;
    return undefined;
  }
}

class DateType extends avro.types.LogicalType {
  protected override _fromValue(days: number): string {
    return formatDays(days);
  }
  protected override _toValue(value: string): number {
    return daysOf(value);
  }
}

class TimeMicrosType extends ConvertOnceType {
  protected override _fromValue(micros: bigint): string {
    return formatTimeMicros(micros);
  }
  protected override toAvro(value: unknown): bigint {
    return parseTimeMicros(value as string);
  }
}

/** Datetime without a zone, counted as if it were UTC (Avro `local-timestamp-micros`). */
class LocalTimestampMicrosType extends ConvertOnceType {
  protected override _fromValue(micros: bigint): string {
    return formatMicros(micros);
  }
  protected override toAvro(value: unknown): bigint | number {
    return parseMicros(value as string);
  }
}

class TimestampMicrosType extends ConvertOnceType {
  protected override _fromValue(micros: bigint): string {
    return `${formatMicros(micros)}Z`;
  }
  protected override toAvro(value: unknown): bigint | number {
    return parseMicros(value as string, true);
  }
}

class JsonType extends avro.types.LogicalType {
  protected override _fromValue(text: string): JsonText {
    return new JsonText(text);
  }
  protected override _toValue(value: string | JsonText): string {
    return value instanceof JsonText ? value.text : value;
  }
}

const logicalTypes: Record<string, new (schema: avro.Schema, opts?: unknown) => avro.types.LogicalType> = {
  decimal: DecimalType,
  date: DateType,
  'time-micros': TimeMicrosType,
  'local-timestamp-micros': LocalTimestampMicrosType,
  'timestamp-micros': TimestampMicrosType,
  json: JsonType,
};

// avsc calls the type hook before it looks at logical types, and again for a logical type's
// underlying type: schemas in this set are being built as logical types right now.
const underConstruction = new WeakSet<object>();

/**
 * Field attribute holding the MySQL column name where the Avro field name had to differ from it
 * (source/avro-schema.ts avroName); the name is Debezium's column-name parameter.
 */
export const COLUMN_NAME_ATTRIBUTE = '__debezium.source.column.name';

/** Per record type with renamed fields: Avro field name → column name (avsc drops unknown attributes). */
const columnNames = new WeakMap<avro.Type, ReadonlyMap<string, string>>();

export function columnNamesOf(record: avro.Type | undefined): ReadonlyMap<string, string> | undefined {
  return record ? columnNames.get(record) : undefined;
}

function typeHook(schema: avro.Schema, opts: unknown): avro.Type | undefined {
  if (schema === 'long') return bigIntLong;
  if (isRenamingRecord(schema) && !underConstruction.has(schema as object)) {
    underConstruction.add(schema as object);
    try {
      const type = avro.Type.forSchema(schema, opts as Partial<avro.ForSchemaOptions>);
      const fields = (schema as { fields: Array<Record<string, unknown>> }).fields;
      columnNames.set(type, new Map(fields.filter((f) => typeof f[COLUMN_NAME_ATTRIBUTE] === 'string').map((f) => [f.name as string, f[COLUMN_NAME_ATTRIBUTE] as string])));
      return type;
    } finally {
      underConstruction.delete(schema as object);
    }
  }
  if (typeof schema !== 'object' || schema === null || (schema as { type?: unknown }).type !== 'long') return undefined;
  const logical = (schema as { logicalType?: string }).logicalType;
  const Logical = logical ? logicalTypes[logical] : undefined;
  if (!Logical || underConstruction.has(schema)) return bigIntLong;
  underConstruction.add(schema);
  try {
    return new Logical(schema, opts);
  } finally {
    underConstruction.delete(schema);
  }
}

function isRenamingRecord(schema: avro.Schema): boolean {
  const fields = (schema as { type?: unknown; fields?: unknown }).fields;
  return (schema as { type?: unknown }).type === 'record' && Array.isArray(fields) && fields.some((f) => typeof (f as Record<string, unknown>)[COLUMN_NAME_ATTRIBUTE] === 'string');
}

export const avroOptions = { logicalTypes, typeHook, assertLogicalTypes: true } as const;

export function avroType(schema: avro.Schema): avro.Type {
  return avro.Type.forSchema(schema, { ...avroOptions, registry: {} } as Partial<avro.ForSchemaOptions>);
}

// ---- conversions between canonical values and their numeric forms (also core/connect-*.ts) ---

/** Days since 1970-01-01 → `YYYY-MM-DD`. */
export function formatDays(days: number): string {
  return new Date(days * MS_PER_DAY)
    .toISOString()
    .slice(0, 10)
    .replace(/^\+0*(\d{4})/, '$1');
}

/** Microseconds (negative, or beyond a day, as TIME allows) → `[-]HH:MM:SS.ffffff`. */
export function formatTimeMicros(micros: bigint): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const seconds = abs / 1_000_000n;
  const hours = seconds / 3600n;
  const clock = `${pad(hours, 2)}:${pad((seconds / 60n) % 60n, 2)}:${pad(seconds % 60n, 2)}.${pad(abs % 1_000_000n, 6)}`;
  return negative ? `-${clock}` : clock;
}

export function parseTimeMicros(value: string): bigint {
  const match = /^(-)?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(value);
  if (!match) throw new Error(`invalid TIME value ${JSON.stringify(value)}`);
  const [, sign, h, m, s, frac = ''] = match;
  const micros = ((BigInt(h!) * 60n + BigInt(m!)) * 60n + BigInt(s!)) * 1_000_000n + BigInt(frac.padEnd(6, '0'));
  return sign ? -micros : micros;
}

function pad(n: bigint | number, width: number): string {
  return n.toString().padStart(width, '0');
}

// Change streams repeat the same dates over and over; parsing them is a visible share of CPU.
const daysCache = new Map<string, number>();

/** `YYYY-MM-DD` → days since 1970-01-01 (proleptic Gregorian, years 0–9999). */
export function daysOf(date: string): number {
  let days = daysCache.get(date);
  if (days !== undefined) return days;
  const match = /^(\d{4})-(\d\d)-(\d\d)$/.exec(date);
  if (!match) throw new Error(`invalid date ${JSON.stringify(date)}`);
  const d = new Date(0);
  d.setUTCFullYear(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  days = Math.round(d.getTime() / MS_PER_DAY);
  if (daysCache.size > 10_000) daysCache.clear();
  daysCache.set(date, days);
  return days;
}

/** Days whose microseconds stay below 2^53 (about 1685 to 2254): those are counted as a Number. */
const SAFE_MICROS_DAYS = Math.floor(Number.MAX_SAFE_INTEGER / Number(MICROS_PER_DAY)) - 1;

/**
 * `YYYY-MM-DD[T ]HH:MM:SS[.ffffff]` → microseconds since 1970 (UTC), a Number where exact (every
 * datetime of this era), else a BigInt. `zoned`: a trailing `Z` is allowed (and ignored).
 */
export function parseMicros(value: string, zoned = false): bigint | number {
  const length = zoned && value.charCodeAt(value.length - 1) === 0x5a ? value.length - 1 : value.length;
  const usual = length === 26 ? usualMicros(value) : undefined;
  if (usual !== undefined) return usual;
  const text = length === value.length ? value : value.slice(0, length);
  const match = /^(\d{4}-\d\d-\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/.exec(text);
  if (!match) throw new Error(`invalid datetime ${JSON.stringify(value)}`);
  const [, date, h, m, s, frac = ''] = match;
  const days = daysOf(date!);
  const clock = ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1_000_000 + Number(frac.padEnd(6, '0'));
  return Math.abs(days) <= SAFE_MICROS_DAYS ? days * Number(MICROS_PER_DAY) + clock : BigInt(days) * MICROS_PER_DAY + BigInt(clock);
}

/**
 * parseMicros of the shape every datetime of the source has, `YYYY-MM-DD[T ]HH:MM:SS.ffffff` in
 * its first 26 characters, read from character codes (no regex, no substrings: each row's
 * datetimes pass here). Undefined when the text has another shape, a month or day out of range,
 * or microseconds beyond a Number's exact range: the general path decides then.
 */
function usualMicros(text: string): number | undefined {
  const separator = text.charCodeAt(10);
  if (text.charCodeAt(4) !== 0x2d || text.charCodeAt(7) !== 0x2d || (separator !== 0x54 && separator !== 0x20)) return undefined;
  if (text.charCodeAt(13) !== 0x3a || text.charCodeAt(16) !== 0x3a || text.charCodeAt(19) !== 0x2e) return undefined;
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hours = digitsAt(text, 11, 2);
  const minutes = digitsAt(text, 14, 2);
  const seconds = digitsAt(text, 17, 2);
  const fraction = digitsAt(text, 20, 6);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hours < 0 || minutes < 0 || seconds < 0 || fraction < 0) return undefined;
  const days = daysFromCivil(year, month, day);
  if (Math.abs(days) > SAFE_MICROS_DAYS) return undefined;
  return days * MICROS_PER_DAY_NUMBER + ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + fraction;
}

/** The decimal number in text[from, from + count); -1 when a character is not a digit. */
export function digitsAt(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date, as daysOf counts them (a day past the
 * month's end runs into the next month, as Date does): the civil-from-days algorithm of
 * Howard Hinnant, in years that begin in March so that February's leap day comes last.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  return era * 146_097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719_468;
}

/** Days since 1970-01-01 → the date part of a datetime, as Date#toISOString writes it (cached like daysOf). */
const dateCache = new Map<number, string>();

export function isoDate(days: number): string {
  let date = dateCache.get(days);
  if (date === undefined) {
    date = new Date(days * MS_PER_DAY).toISOString().slice(0, 10);
    if (dateCache.size > 10_000) dateCache.clear();
    dateCache.set(days, date);
  }
  return date;
}

/**
 * The day (since 1970) of a Number of microseconds. Exact below 2^53: the quotient stays below
 * 2^17 days, where a double is rounded by at most 2^-37, less than a microsecond's share of a
 * day, so it never rounds across a day's boundary.
 */
export function dayOfMicros(micros: number): number {
  return Math.floor(micros / MICROS_PER_DAY_NUMBER);
}

/**
 * Every datetime a sink decodes passes here: the time of day (below 2^37 µs) is taken apart as a
 * Number, and so are the days of a Number (exact below 2^53, every datetime of this era).
 */
export function formatMicros(micros: bigint | number): string {
  let days: number;
  let clock: number;
  if (typeof micros === 'number') {
    days = dayOfMicros(micros);
    clock = micros - days * MICROS_PER_DAY_NUMBER;
  } else {
    let whole = micros / MICROS_PER_DAY;
    let rest = micros % MICROS_PER_DAY;
    if (rest < 0n) {
      rest += MICROS_PER_DAY;
      whole -= 1n;
    }
    days = Number(whole);
    clock = Number(rest);
  }
  const seconds = Math.floor(clock / 1_000_000);
  return `${isoDate(days)}T${pad(Math.floor(seconds / 3600), 2)}:${pad(Math.floor(seconds / 60) % 60, 2)}:${pad(seconds % 60, 2)}.${pad(clock % 1_000_000, 6)}`;
}

/** `-12.3400` with scale 4 → -123400n. Rejects digits beyond the scale rather than rounding. */
export function parseUnscaled(text: string, scale: number): bigint {
  const match = /^([+-])?(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match || (match[2] === '' && !match[3])) throw new Error(`invalid decimal ${JSON.stringify(text)}`);
  const [, sign, whole = '', frac = ''] = match;
  if (frac.replace(/0+$/, '').length > scale) throw new Error(`decimal ${text} has more than ${scale} fraction digits`);
  const unscaled = BigInt((whole || '0') + frac.slice(0, scale).padEnd(scale, '0'));
  return sign === '-' ? -unscaled : unscaled;
}

/** Decimals of up to 14 digits: below 10^14 < 2^47, so six bytes and Number arithmetic hold them exactly. */
const SMALL_DECIMAL_DIGITS = 14;
const SMALL_DECIMAL_BYTES = 6;

/**
 * parseUnscaled's value for a decimal text of at most 14 digits, in Number arithmetic; undefined
 * for anything else (more digits, spaces, a malformed or refused text), which parseUnscaled takes.
 * Every DECIMAL value of up to 14 digits the source reads comes this way, without a regex, strings
 * or a BigInt per value.
 */
export function smallUnscaled(text: string, scale: number): number | undefined {
  let at = 0;
  const first = text.charCodeAt(0);
  if (first === 0x2d || first === 0x2b) at = 1;
  let unscaled = 0;
  let digits = 0;
  let anyDigit = false;
  // Fraction digits taken so far; -1 before the point.
  let fraction = -1;
  for (; at < text.length; at++) {
    const c = text.charCodeAt(at);
    if (c === 0x2e && fraction < 0) {
      fraction = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39) return undefined;
    anyDigit = true;
    if (fraction === scale) {
      // Past the scale only zeros may follow (parseUnscaled refuses others).
      if (c !== 0x30) return undefined;
      continue;
    }
    if (fraction >= 0) fraction++;
    unscaled = unscaled * 10 + (c - 0x30);
    if (unscaled !== 0 && ++digits > SMALL_DECIMAL_DIGITS) return undefined;
  }
  // A sign or point alone is no number.
  if (!anyDigit) return undefined;
  for (let f = Math.max(fraction, 0); f < scale; f++) {
    unscaled *= 10;
    if (unscaled !== 0 && ++digits > SMALL_DECIMAL_DIGITS) return undefined;
  }
  return first === 0x2d && unscaled !== 0 ? -unscaled : unscaled;
}

/**
 * The fewest bytes that hold `n` in two's complement (at least one): as many as `n`, or `-n - 1`
 * for a negative, needs below its sign bit. A division per byte: a power of two per step showed in
 * the source's profiles.
 */
function twosComplementBytes(n: number): number {
  let magnitude = n < 0 ? -n - 1 : n;
  let bytes = 1;
  while (magnitude >= 0x80) {
    magnitude = Math.floor(magnitude / 256);
    bytes++;
  }
  return bytes;
}

/** The text of an unscaled decimal, a BigInt or a Number (exact below 2^53). */
export function formatUnscaled(unscaled: bigint | number, scale: number): string {
  const negative = unscaled < 0;
  const digits = String(negative ? -unscaled : unscaled).padStart(scale + 1, '0');
  const text = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return negative ? `-${text}` : text;
}

/** Big-endian two's complement, as few bytes as the value needs (Avro decimal). */
export function bigIntToBytes(value: bigint): Buffer {
  let hex = (value < 0n ? -value : value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (value >= 0n) return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  // Negative: invert and add one over a width that leaves the sign bit set.
  const width = bytes.length + (bytes[0]! & 0x80 && value !== -(1n << BigInt(bytes.length * 8 - 1)) ? 1 : 0);
  const twos = (1n << BigInt(width * 8)) + value;
  hex = twos.toString(16).padStart(width * 2, '0');
  bytes = Buffer.from(hex, 'hex');
  return bytes;
}

export function bytesToBigInt(buf: Buffer): bigint {
  if (buf.length === 0) return 0n;
  const unsigned = BigInt(`0x${buf.toString('hex')}`);
  return buf[0]! & 0x80 ? unsigned - (1n << BigInt(buf.length * 8)) : unsigned;
}
