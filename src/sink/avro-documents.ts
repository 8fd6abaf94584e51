import type { Type } from 'avsc';
import { bytesToBigInt, columnNamesOf, formatDays, formatMicros, formatTimeMicros, formatUnscaled } from '../core/avro-types.ts';
import { numberJson, oneLineJsonText } from '../core/exact-json.ts';

/**
 * The sink's direct path from a change record's Avro bytes to its document's JSON text. Decoding
 * a row into an object and serializing that object again (avsc, then exactJson) was the largest
 * share of the sink's CPU and of its garbage: here each column is read from the bytes and written
 * as JSON text at once, and the `before` image of an update is skipped, not decoded. The text is
 * exactly what documentJson writes for the decoded row (a unit test compares them on every column
 * type). Rows this cannot render (GEOMETRY columns, which documents extend with GeoJSON, or types
 * our source never writes) take the decoding path: renderer() answers undefined for them.
 */

/** Where reading stands in a record's bytes. */
interface Cursor {
  buf: Buffer;
  pos: number;
}

/** Reads one value at the cursor, advancing it, as document JSON text. */
type Render = (cur: Cursor) => string;

/** Moves the cursor past one value. */
type Skip = (cur: Cursor) => void;

interface Codec {
  render: Render;
  skip: Skip;
}

/** A change envelope with its row images as JSON text: `after` rendered, `before` only skipped. */
export interface RenderedEnvelope {
  /** The envelope's other fields (op, source, ts_ms, …) as avsc decodes them. */
  fields: Record<string, unknown>;
  /** The `after` row as document JSON text; null when the envelope has none. */
  after: string | null;
}

export type EnvelopeRenderer = (body: Buffer) => RenderedEnvelope;

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
  const steps = fields.map((field) => {
    if (field === before) return (cur: Cursor) => void beforeRow.skip(cur);
    if (field === after) {
      return (cur: Cursor, out: RenderedEnvelope) => {
        out.after = afterRow.render(cur);
      };
    }
    const read = readerOf(field.type);
    return (cur: Cursor, out: RenderedEnvelope) => {
      out.fields[field.name] = read(cur);
    };
  });
  return (body) => {
    const cur: Cursor = { buf: body, pos: 0 };
    const out: RenderedEnvelope = { fields: {}, after: null };
    for (const step of steps) step(cur, out);
    if (cur.pos !== body.length) throw new Error(cur.pos > body.length ? 'truncated buffer' : 'trailing data');
    return out;
  };
}

/** Reads one value at the cursor, advancing it, as avsc decodes it. */
type Read = (cur: Cursor) => unknown;

/**
 * The envelope's other fields (the source block, op, …): records, unions and primitives are read
 * here, anything else by avsc. A string field mostly repeats its last value (database, table,
 * binlog file, connector): that value is compared as bytes and reused, not decoded again.
 */
function readerOf(type: Type): Read {
  const branches = branchesOf(type);
  const fields = fieldsOf(type);
  if (branches && type.typeName === 'union:unwrapped') {
    const readers = branches.map(readerOf);
    return (cur) => readers[branchIndex(cur, readers.length)]!(cur);
  }
  if (fields && type.typeName === 'record') {
    const readers = fields.map((field) => [field.name, readerOf(field.type)] as const);
    return (cur) => {
      const out: Record<string, unknown> = {};
      for (const [name, read] of readers) out[name] = read(cur);
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

/** A `["null", row]` union: renders null, or the row's JSON text. */
function nullableRow(type: Type): { render: (cur: Cursor) => string | null; skip: Skip } | undefined {
  const branches = branchesOf(type);
  const rowAt = branches?.findIndex((t) => t.typeName === 'record') ?? -1;
  if (branches?.length !== 2 || rowAt < 0 || branches[1 - rowAt]!.typeName !== 'null') return undefined;
  const row = rowCodec(branches[rowAt]!);
  if (!row) return undefined;
  return {
    render: (cur) => (branchIndex(cur, 2) === rowAt ? row.render(cur) : null),
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
  const heads = names.map((name, i) => `${i === 0 ? '{' : ','}${JSON.stringify(name)}:`);
  return {
    render: (cur) => {
      if (codecs.length === 0) return '{}';
      let out = '';
      for (let i = 0; i < codecs.length; i++) out += heads[i]! + codecs[i]!.render(cur);
      return `${out}}`;
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
      render: (cur) => known[branchIndex(cur, known.length)]!.render(cur),
      skip: (cur) => known[branchIndex(cur, known.length)]!.skip(cur),
    };
  }
  if (type.typeName === 'logical:decimal') {
    const { scale } = type as unknown as { scale: number };
    return { render: (cur) => `"${decimalText(cur, scale)}"`, skip: skipBytes };
  }
  return CODECS[type.typeName];
}

const NULL: Codec = { render: () => 'null', skip: () => undefined };

const CODECS: Record<string, Codec> = {
  int: { render: (cur) => String(readLong(cur)), skip: skipVarint },
  'abstract:long': { render: (cur) => String(readLong(cur)), skip: skipVarint },
  float: { render: (cur) => numberJson(readFixed(cur, 4).readFloatLE(cur.pos - 4)), skip: (cur) => void readFixed(cur, 4) },
  double: { render: (cur) => numberJson(readFixed(cur, 8).readDoubleLE(cur.pos - 8)), skip: (cur) => void readFixed(cur, 8) },
  boolean: { render: (cur) => (readFixed(cur, 1)[cur.pos - 1] ? 'true' : 'false'), skip: (cur) => void readFixed(cur, 1) },
  string: { render: (cur) => JSON.stringify(readText(cur)), skip: skipBytes },
  bytes: {
    render: (cur) => {
      const end = readEnd(cur);
      const text = cur.buf.toString('base64', cur.pos, end);
      cur.pos = end;
      return `"${text}"`;
    },
    skip: skipBytes,
  },
  'logical:date': { render: (cur) => `"${formatDays(Number(readLong(cur)))}"`, skip: skipVarint },
  'logical:time-micros': { render: (cur) => `"${formatTimeMicros(BigInt(readLong(cur)))}"`, skip: skipVarint },
  'logical:local-timestamp-micros': { render: (cur) => `"${formatMicros(readLong(cur))}"`, skip: skipVarint },
  'logical:timestamp-micros': { render: (cur) => `"${formatMicros(readLong(cur))}Z"`, skip: skipVarint },
  'logical:json': { render: (cur) => oneLineJsonText(readText(cur)), skip: skipBytes },
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

/** An Avro decimal's text (big-endian two's complement, then the scale); up to 6 bytes in Number arithmetic. */
function decimalText(cur: Cursor, scale: number): string {
  const end = readEnd(cur);
  const length = end - cur.pos;
  const unscaled = length === 0 ? 0 : length <= 6 ? cur.buf.readIntBE(cur.pos, length) : bytesToBigInt(cur.buf.subarray(cur.pos, end));
  cur.pos = end;
  return formatUnscaled(unscaled, scale);
}
