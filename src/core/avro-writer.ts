import avro from 'avsc';
import type { Tap } from 'avsc/lib/utils.js';

/**
 * Writers of avsc types that write exactly avsc's bytes, and refuse exactly what avsc refuses,
 * with less work per record than avsc's own: the source's profiles showed avsc's nullable fields
 * (its union picks a branch by converting a logical value to check it, then converts it again to
 * write it) and its string writer (a native byte-length call per string) as the largest shares of
 * encoding. Records, `[null, X]` unions and strings are written here; every other type, and every
 * value these writers do not take, goes to avsc's own `_write`, with its checks and errors.
 */
type Writer = (tap: Tap, value: unknown) => void;

/** What avsc has but does not declare. */
interface AvscType {
  _write(tap: Tap, value: unknown): void;
  _check(value: unknown): boolean;
}
interface AvscLogicalType extends AvscType {
  _toValue(value: unknown): unknown;
  underlyingType: avro.Type;
}
interface AvscUnionType extends AvscType {
  /** Branch index by bucket, for the branches that are neither logical nor abstract. */
  _bucketIndices: Record<string, number>;
}

const writers = new WeakMap<avro.Type, Writer>();

/** The writer of `type`, compiled once per type. */
export function writerOf(type: avro.Type): Writer {
  let writer = writers.get(type);
  if (!writer) {
    writer = compile(type);
    writers.set(type, writer);
  }
  return writer;
}

function compile(type: avro.Type): Writer {
  if (type instanceof avro.types.RecordType) return recordWriter(type);
  if (type instanceof avro.types.UnwrappedUnionType && type.types.length === 2 && type.types[0]!.typeName === 'null') return nullableWriter(type, type.types[1]!);
  if (type instanceof avro.types.StringType) return stringWriter(type as unknown as AvscType);
  if (isPlainLogical(type)) {
    const write = writerOf(type.underlyingType);
    return (tap, value) => write(tap, type._toValue(value));
  }
  const avsc = type as unknown as AvscType;
  return (tap, value) => avsc._write(tap, value);
}

/** A logical type whose write and check are avsc's: a conversion, then its underlying type's. */
function isPlainLogical(type: avro.Type): type is avro.Type & AvscLogicalType {
  return type instanceof avro.types.LogicalType && (type as unknown as AvscType)._write === logicalPrototype._write && (type as unknown as AvscType)._check === logicalPrototype._check;
}
const logicalPrototype = avro.types.LogicalType.prototype as unknown as AvscType;

/**
 * Fields in order, as avsc's generated record writer: a field with a default that is undefined in
 * the value is written as its default (encoded once, as avsc does). Like avsc's, the writer is
 * generated code, so that each field is read at its own site (a loop over the field names read
 * them all at one site, which made the record writer slower than avsc's). It looks its
 * field writers up when it runs and is cached before they are compiled: a recursive record refers
 * to itself.
 */
function recordWriter(type: avro.types.RecordType): Writer {
  const fieldWriters: Writer[] = [];
  const defaults: Array<Buffer | undefined> = [];
  let body = '';
  type.fields.forEach((field, i) => {
    const value: unknown = field.defaultValue();
    const fallback = value === undefined ? undefined : field.type.toBuffer(value);
    defaults.push(fallback);
    const read = `v[${JSON.stringify(field.name)}]`;
    body += fallback ? `f = ${read}; if (f === undefined) t.writeFixed(d[${i}], ${fallback.length}); else w[${i}](t, f);\n` : `w[${i}](t, ${read});\n`;
  });
  const write = new Function('w', 'd', `return function writeRecord(t, v) {\nlet f;\n${body}};`)(fieldWriters, defaults) as Writer;
  writers.set(type, write);
  for (const field of type.fields) fieldWriters.push(writerOf(field.type));
  return write;
}

/**
 * `[null, X]`: null is branch 0 (one byte, 0), anything else branch 1 (one byte, 2) then X. avsc
 * takes a value for X by its bucket (its kind: string, number, object, …), or for a logical or
 * abstract X by X's check, which for a logical type converts the value that the write then
 * converts again: here it is converted once, checked as avsc checks it, and written. A value avsc
 * would refuse goes to avsc's own write, which throws its own error.
 */
function nullableWriter(type: avro.types.UnwrappedUnionType, branch: avro.Type): Writer {
  const union = type as unknown as AvscUnionType;
  const fallback: Writer = (tap, value) => union._write(tap, value);
  const dynamic = avro.Type.isType(branch, 'abstract', 'logical');
  const checked = branch as unknown as AvscType;
  // A branch that takes null too is ambiguous to avsc, which throws: left to it.
  if (dynamic && checked._check(null)) return fallback;
  if (isPlainLogical(branch)) {
    const underlying = branch.underlyingType as unknown as AvscType;
    const write = writerOf(branch.underlyingType);
    return (tap, value) => {
      if (value === null) {
        tap.buf[tap.pos++] = 0;
        return;
      }
      const converted = convert(branch, value);
      if (converted === undefined || !underlying._check(converted)) return fallback(tap, value);
      tap.buf[tap.pos++] = 2;
      write(tap, converted);
    };
  }
  const bucket = Object.entries(union._bucketIndices).find(([, index]) => index === 1)?.[0];
  const takes = dynamic ? (value: unknown) => checked._check(value) : (value: unknown) => bucketOf(value) === bucket;
  const write = writerOf(branch);
  return (tap, value) => {
    if (value === null) tap.buf[tap.pos++] = 0;
    else if (takes(value)) {
      tap.buf[tap.pos++] = 2;
      write(tap, value);
    } else fallback(tap, value);
  };
}

/** The bucket avsc files a (non-null) value under in an unwrapped union (its getValueBucket). */
function bucketOf(value: unknown): string {
  const bucket = typeof value;
  if (bucket !== 'object') return bucket;
  return Array.isArray(value) ? 'array' : Buffer.isBuffer(value) ? 'buffer' : 'object';
}

/** The logical type's conversion as its check sees it: a value it cannot convert is undefined. */
function convert(type: AvscLogicalType, value: unknown): unknown {
  try {
    return type._toValue(value);
  } catch {
    return undefined;
  }
}

/**
 * Short ASCII strings (nearly every string of a change event: names, positions, most column
 * values) are written byte by byte, their length being their byte length; anything else is
 * avsc's (its writer encodes a lone surrogate differently below and above 64 bytes).
 */
const SHORT_STRING = 64;

function stringWriter(type: AvscType): Writer {
  return (tap, value) => {
    if (typeof value !== 'string' || value.length >= SHORT_STRING) return type._write(tap, value);
    const { buf } = tap;
    let pos = tap.pos;
    if (pos + 1 + value.length > buf.length) return type._write(tap, value);
    // The zigzag varint of a length below 64: one byte.
    buf[pos++] = value.length << 1;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c >= 0x80) return type._write(tap, value);
      buf[pos++] = c;
    }
    tap.pos = pos;
  };
}
