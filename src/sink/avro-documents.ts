import type { Type } from 'avsc';
import { bytesToBigInt, columnNamesOf, dayOfMicros, formatDays, formatMicros, formatTimeMicros, formatUnscaled, isoDate, MICROS_PER_DAY_NUMBER } from '../core/avro-types.ts';
import { numberJson } from '../core/exact-json.ts';
import { JsonBytes } from './json-bytes.ts';
import { idOfText } from './document.ts';

/**
 * The sink's direct path from a change record's Avro bytes to its document's JSON bytes. Decoding
 * a row into an object and serializing that object again (avsc, then exactJson) was the largest
 * share of the sink's CPU and of its garbage: here each column is read from the bytes and written
 * as JSON bytes at once (into json-bytes.ts' blocks, no string per value or per document),
 * and the `before` image of an update is skipped, not decoded. The bytes are exactly the UTF-8 of
 * what documentJson writes for the decoded row (a unit test compares them on every column type).
 * Rows this cannot render (GEOMETRY columns, which documents extend with GeoJSON, or types our
 * source never writes) take the decoding path: renderer() answers undefined for them.
 */

/** Where reading stands in a record's bytes. */
interface Cursor {
  buf: Buffer;
  pos: number;
}

/** Reads one value at the cursor, advancing it, and writes it as document JSON. */
type Render = (cur: Cursor, out: JsonBytes) => void;

/** Moves the cursor past one value. */
type Skip = (cur: Cursor) => void;

interface Codec {
  render: Render;
  skip: Skip;
}

/**
 * A change envelope with its `after` image as document JSON bytes (`before` only skipped). The
 * object and its `fields` are reused by the next envelope of the same type: read them at once.
 */
export interface RenderedEnvelope {
  /** The envelope's `op` and `source` as avsc decodes them, of the source block only what READ_SOURCE_FIELDS names. */
  fields: Record<string, unknown>;
  /** The block of the sink's documents that holds the `after` row's document, at [afterStart, afterEnd); null when the envelope has none. */
  after: Buffer | null;
  afterStart: number;
  afterEnd: number;
}

/** Renders the envelope in `buffer` from `start` to its end. */
export type EnvelopeRenderer = (buffer: Buffer, start: number) => RenderedEnvelope;

/**
 * What the direct path reads of an envelope besides `after`: its op, and of its source block the
 * table (for the schema) and the position (for the version). Everything else is skipped unread.
 */
const READ_FIELDS = new Set(['op', 'source']);
const READ_SOURCE_FIELDS = new Set(['db', 'table', 'file', 'pos', 'row', 'epoch']);

/** Every document is written here, one at a time (rendering is synchronous). */
const documents = new JsonBytes();

/** Per envelope type: its renderer, or null when a row of it cannot be rendered directly. */
const renderers = new WeakMap<Type, EnvelopeRenderer | null>();

/** The direct renderer of a change envelope type; undefined when its rows need decoding. */
export function envelopeRenderer(envelope: Type): EnvelopeRenderer | undefined {
  let renderer = renderers.get(envelope);
  if (renderer === undefined) {
    renderer = compileEnvelope(envelope) ?? null;
    renderers.set(envelope, renderer);
  }
  return renderer ?? undefined;
}

interface AvroField {
  name: string;
  type: Type;
}

function fieldsOf(type: Type): AvroField[] | undefined {
  return (type as unknown as { fields?: AvroField[] }).fields;
}

function compileEnvelope(envelope: Type): EnvelopeRenderer | undefined {
  const fields = fieldsOf(envelope);
  const before = fields?.find((f) => f.name === 'before');
  const after = fields?.find((f) => f.name === 'after');
  if (!fields || !before || !after) return undefined;
  const beforeRow = nullableRow(before.type);
  const afterRow = nullableRow(after.type);
  if (!beforeRow || !afterRow) return undefined;
  const out: RenderedEnvelope = { fields: {}, after: null, afterStart: 0, afterEnd: 0 };
  const steps = fields.map((field) => {
    if (field === before) return (cur: Cursor) => void beforeRow.skip(cur);
    if (field === after) {
      return (cur: Cursor) => {
        documents.begin();
        if (!afterRow.render(cur, documents)) {
          out.after = null;
          return;
        }
        documents.close();
        out.after = documents.closedBlock;
        out.afterStart = documents.closedStart;
        out.afterEnd = documents.closedEnd;
      };
    }
    if (!READ_FIELDS.has(field.name)) return skipperOf(field.type);
    const read = readerOf(field.type, field.name === 'source' ? READ_SOURCE_FIELDS : undefined);
    return (cur: Cursor) => {
      out.fields[field.name] = read(cur);
    };
  });
  return (buffer, start) => {
    const cur: Cursor = { buf: buffer, pos: start };
    for (const step of steps) step(cur);
    if (cur.pos !== buffer.length) throw new Error(cur.pos > buffer.length ? 'truncated buffer' : 'trailing data');
    return out;
  };
}

/** Per key type: the reader of a key's document id, or null when the key is decoded for it. */
const keyIdReaders = new WeakMap<Type, KeyIdReader | null>();

/** Reads the key in `buffer` from `start` to its end. */
export type KeyIdReader = (buffer: Buffer, start: number) => string;

/**
 * The document id of a key of one integer or string column, read from its bytes as documentId
 * writes it for the decoded key; undefined for other keys (several columns, other types).
 */
export function keyIdReader(key: Type): KeyIdReader | undefined {
  let reader = keyIdReaders.get(key);
  if (reader === undefined) {
    const fields = fieldsOf(key);
    const only = fields?.length === 1 ? fields[0]!.type.typeName : undefined;
    reader = null;
    if (only === 'int' || only === 'abstract:long') reader = (buffer, start) => String(readWhole(buffer, start, readLong));
    if (only === 'string') reader = (buffer, start) => idOfText(readWhole(buffer, start, readText));
    keyIdReaders.set(key, reader);
  }
  return reader ?? undefined;
}

/** `read` over `buffer` from `start` to its end, which must hold exactly one value. */
function readWhole<T>(buffer: Buffer, start: number, read: (cur: Cursor) => T): T {
  const cur: Cursor = { buf: buffer, pos: start };
  const value = read(cur);
  if (cur.pos !== buffer.length) throw new Error('trailing data');
  return value;
}

/** Reads one value at the cursor, advancing it, as avsc decodes it. */
type Read = (cur: Cursor) => unknown;

/**
 * The envelope's other fields (the source block, op, …): records, unions and primitives are read
 * here, anything else by avsc. A record is read into one object reused by the next (the caller
 * reads the envelope at once), and only its fields named in `only` when given: the others are
 * skipped. A string field mostly repeats its last value (database, table, binlog file): that
 * value is compared as bytes and reused, not decoded again.
 */
function readerOf(type: Type, only?: ReadonlySet<string>): Read {
  const branches = branchesOf(type);
  const fields = fieldsOf(type);
  if (branches && type.typeName === 'union:unwrapped') {
    const readers = branches.map((branch) => readerOf(branch, only));
    return (cur) => readers[branchIndex(cur, readers.length)]!(cur);
  }
  if (fields && type.typeName === 'record') {
    const out: Record<string, unknown> = {};
    const steps = fields.map((field): Skip => {
      if (only && !only.has(field.name)) return skipperOf(field.type);
      const read = readerOf(field.type);
      return (cur) => {
        out[field.name] = read(cur);
      };
    });
    return (cur) => {
      for (const step of steps) step(cur);
      return out;
    };
  }
  switch (type.typeName) {
    case 'null':
      return () => null;
    case 'boolean':
      return (cur) => readFixed(cur, 1)[cur.pos - 1] !== 0;
    case 'int':
    case 'abstract:long':
      return readLong;
    case 'string':
      return repeatedText();
    default:
      return (cur) => {
        const { value, offset } = type.decode(cur.buf, cur.pos);
        if (offset < 0) throw new Error('truncated buffer');
        cur.pos = offset;
        return value;
      };
  }
}

/** Moves past a value of the envelope's other fields without reading it. */
function skipperOf(type: Type): Skip {
  const branches = branchesOf(type);
  const fields = fieldsOf(type);
  if (branches && type.typeName === 'union:unwrapped') {
    const skips = branches.map(skipperOf);
    return (cur) => skips[branchIndex(cur, skips.length)]!(cur);
  }
  if (fields && type.typeName === 'record') {
    const skips = fields.map((field) => skipperOf(field.type));
    return (cur) => {
      for (const skip of skips) skip(cur);
    };
  }
  switch (type.typeName) {
    case 'null':
      return () => undefined;
    case 'int':
    case 'abstract:long':
      return skipVarint;
    case 'string':
    case 'bytes':
      return skipBytes;
    default: {
      const read = readerOf(type);
      return (cur) => void read(cur);
    }
  }
}

function repeatedText(): Read {
  let lastBytes = Buffer.alloc(0);
  let lastText = '';
  return (cur) => {
    const end = readEnd(cur);
    const start = cur.pos;
    cur.pos = end;
    const bytes = end - start;
    if (bytes === lastBytes.length) {
      // Byte by byte: these are short, and Buffer#compare's argument checks cost more than the loop.
      let same = 0;
      while (same < bytes && cur.buf[start + same] === lastBytes[same]) same++;
      if (same === bytes) return lastText;
    }
    // A copy: the record's buffer is not kept alive by the next one's comparison.
    lastBytes = Buffer.from(cur.buf.subarray(start, end));
    lastText = lastBytes.toString('utf8');
    return lastText;
  };
}

/** A `["null", row]` union: writes the row's JSON and answers true, or answers false for null. */
function nullableRow(type: Type): { render: (cur: Cursor, out: JsonBytes) => boolean; skip: Skip } | undefined {
  const branches = branchesOf(type);
  const rowAt = branches?.findIndex((t) => t.typeName === 'record') ?? -1;
  if (branches?.length !== 2 || rowAt < 0 || branches[1 - rowAt]!.typeName !== 'null') return undefined;
  const row = rowCodec(branches[rowAt]!);
  if (!row) return undefined;
  return {
    render: (cur, out) => {
      if (branchIndex(cur, 2) !== rowAt) return false;
      row.render(cur, out);
      return true;
    },
    skip: (cur) => {
      if (branchIndex(cur, 2) === rowAt) row.skip(cur);
    },
  };
}

/**
 * A row record, written as documentJson writes its decoded object: fields in order, each under
 * its column name (the field's own, unless the source had to adjust it for Avro).
 */
function rowCodec(record: Type): Codec | undefined {
  const fields = fieldsOf(record);
  if (!fields) return undefined;
  const renames = columnNamesOf(record);
  const names = fields.map((f) => renames?.get(f.name) ?? f.name);
  // An object lists integer-like keys first: such a name would move in the decoded row's text.
  if (names.some((name) => /^(?:0|[1-9]\d*)$/.test(name)) || new Set(names).size !== names.length) return undefined;
  const codecs: Codec[] = [];
  for (const field of fields) {
    const codec = columnCodec(field.type);
    if (!codec) return undefined;
    codecs.push(codec);
  }
  // Each field's `{"name":` or `,"name":` as UTF-8, written as bytes.
  const heads = names.map((name, i) => Buffer.from(`${i === 0 ? '{' : ','}${JSON.stringify(name)}:`));
  return {
    render: (cur, out) => {
      if (codecs.length === 0) return out.ascii('{}');
      for (let i = 0; i < codecs.length; i++) {
        const head = heads[i]!;
        out.copy(head, 0, head.length);
        codecs[i]!.render(cur, out);
      }
      out.byte(0x7d);
    },
    skip: (cur) => {
      for (const codec of codecs) codec.skip(cur);
    },
  };
}

/** A column's value: the types and logical types our source writes (source/avro-schema.ts), nullable or not. */
function columnCodec(type: Type): Codec | undefined {
  const branches = branchesOf(type);
  if (branches) {
    if (type.typeName !== 'union:unwrapped') return undefined;
    const codecs = branches.map((branch) => (branch.typeName === 'null' ? NULL : columnCodec(branch)));
    if (codecs.some((c) => !c)) return undefined;
    const known = codecs as Codec[];
    return {
      render: (cur, out) => known[branchIndex(cur, known.length)]!.render(cur, out),
      skip: (cur) => known[branchIndex(cur, known.length)]!.skip(cur),
    };
  }
  if (type.typeName === 'logical:decimal') {
    const { scale } = type as unknown as { scale: number };
    return { render: (cur, out) => renderDecimal(cur, out, scale), skip: skipBytes };
  }
  return CODECS[type.typeName];
}

const NULL: Codec = { render: (_cur, out) => out.ascii('null'), skip: () => undefined };

/** A long as JSON: digits written directly while it is a safe integer. */
function renderLong(cur: Cursor, out: JsonBytes): void {
  const value = readLong(cur);
  if (typeof value === 'number') out.integer(value);
  else out.ascii(String(value));
}

/** A datetime's `YYYY-MM-DDTHH:MM:SS.ffffff`, as formatMicros writes it, without its strings while the microseconds are a Number. */
function renderMicros(cur: Cursor, out: JsonBytes, zone: boolean): void {
  const micros = readLong(cur);
  out.byte(0x22);
  if (typeof micros === 'number') {
    const days = dayOfMicros(micros);
    const clock = micros - days * MICROS_PER_DAY_NUMBER;
    const seconds = Math.floor(clock / 1_000_000);
    out.ascii(isoDate(days));
    out.byte(0x54);
    out.padded(Math.floor(seconds / 3600), 2);
    out.byte(0x3a);
    out.padded(Math.floor(seconds / 60) % 60, 2);
    out.byte(0x3a);
    out.padded(seconds % 60, 2);
    out.byte(0x2e);
    out.padded(clock % 1_000_000, 6);
  } else {
    out.ascii(formatMicros(micros));
  }
  if (zone) out.byte(0x5a);
  out.byte(0x22);
}

const CODECS: Record<string, Codec> = {
  int: { render: renderLong, skip: skipVarint },
  'abstract:long': { render: renderLong, skip: skipVarint },
  float: { render: (cur, out) => out.ascii(numberJson(readFixed(cur, 4).readFloatLE(cur.pos - 4))), skip: (cur) => void readFixed(cur, 4) },
  double: { render: (cur, out) => out.ascii(numberJson(readFixed(cur, 8).readDoubleLE(cur.pos - 8))), skip: (cur) => void readFixed(cur, 8) },
  boolean: { render: (cur, out) => out.ascii(readFixed(cur, 1)[cur.pos - 1] ? 'true' : 'false'), skip: (cur) => void readFixed(cur, 1) },
  string: {
    render: (cur, out) => {
      const end = readEnd(cur);
      out.jsonString(cur.buf, cur.pos, end);
      cur.pos = end;
    },
    skip: skipBytes,
  },
  bytes: {
    render: (cur, out) => {
      const end = readEnd(cur);
      out.ascii(`"${cur.buf.toString('base64', cur.pos, end)}"`);
      cur.pos = end;
    },
    skip: skipBytes,
  },
  'logical:date': { render: (cur, out) => out.ascii(`"${formatDays(Number(readLong(cur)))}"`), skip: skipVarint },
  'logical:time-micros': { render: (cur, out) => out.ascii(`"${formatTimeMicros(BigInt(readLong(cur)))}"`), skip: skipVarint },
  'logical:local-timestamp-micros': { render: (cur, out) => renderMicros(cur, out, false), skip: skipVarint },
  'logical:timestamp-micros': { render: (cur, out) => renderMicros(cur, out, true), skip: skipVarint },
  'logical:json': {
    render: (cur, out) => {
      const end = readEnd(cur);
      out.jsonText(cur.buf, cur.pos, end);
      cur.pos = end;
    },
    skip: skipBytes,
  },
};

function branchesOf(type: Type): Type[] | undefined {
  return (type as unknown as { types?: Type[] }).types;
}

function branchIndex(cur: Cursor, count: number): number {
  const index = readLong(cur);
  if (typeof index !== 'number' || index < 0 || index >= count) throw new Error(`invalid union index ${index}`);
  return index;
}

/** An Avro long (zigzag varint): a Number when exact (within ±2^52, every microsecond time of this era), else a BigInt. */
function readLong(cur: Cursor): number | bigint {
  const { buf } = cur;
  let pos = cur.pos;
  let unsigned = 0;
  let scale = 1;
  // Up to 8 bytes (56 bits) in Number arithmetic: each sum is exact while it stays below 2^53.
  for (let i = 0; i < 8; i++) {
    const byte = buf[pos++];
    if (byte === undefined) throw new Error('truncated buffer');
    unsigned += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (unsigned > Number.MAX_SAFE_INTEGER) break;
      cur.pos = pos;
      return unsigned % 2 === 1 ? -(unsigned + 1) / 2 : unsigned / 2;
    }
    scale *= 128;
  }
  return readBigLong(cur);
}

function readBigLong(cur: Cursor): bigint {
  const { buf } = cur;
  let unsigned = 0n;
  let shift = 0n;
  for (let pos = cur.pos; shift < 70n; shift += 7n) {
    const byte = buf[pos++];
    if (byte === undefined) throw new Error('truncated buffer');
    unsigned |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) {
      cur.pos = pos;
      return (unsigned >> 1n) ^ -(unsigned & 1n);
    }
  }
  throw new Error('invalid long: more than 10 varint bytes');
}

function skipVarint(cur: Cursor): void {
  readLong(cur);
}

/** The buffer, once `bytes` more of it are known to be there (the cursor moves past them). */
function readFixed(cur: Cursor, bytes: number): Buffer {
  if (cur.pos + bytes > cur.buf.length) throw new Error('truncated buffer');
  cur.pos += bytes;
  return cur.buf;
}

/** Reads a `bytes`/`string` length and returns where its content ends (the cursor at its start). */
function readEnd(cur: Cursor): number {
  const length = readLong(cur);
  if (typeof length !== 'number' || length < 0 || cur.pos + length > cur.buf.length) throw new Error(`invalid length ${length}`);
  return cur.pos + length;
}

function skipBytes(cur: Cursor): void {
  cur.pos = readEnd(cur);
}

function readText(cur: Cursor): string {
  const end = readEnd(cur);
  const text = cur.buf.toString('utf8', cur.pos, end);
  cur.pos = end;
  return text;
}

/** An Avro decimal (big-endian two's complement, then the scale) as a JSON string; up to 6 bytes in Number arithmetic. */
function renderDecimal(cur: Cursor, out: JsonBytes, scale: number): void {
  const end = readEnd(cur);
  const length = end - cur.pos;
  out.byte(0x22);
  if (length <= 6) out.decimal(length === 0 ? 0 : cur.buf.readIntBE(cur.pos, length), scale);
  else out.ascii(formatUnscaled(bytesToBigInt(cur.buf.subarray(cur.pos, end)), scale));
  out.byte(0x22);
  cur.pos = end;
}
