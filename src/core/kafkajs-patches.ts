import { createRequire } from 'node:module';

/**
 * Four kafkajs internals on the per-record path, replaced by equivalents that give the same
 * result (the unit tests compare each with kafkajs' own):
 * - the per-partition grouping of a send copies its array for every record (`[...current, m]`),
 *   so one send of n records copies n²/2 array slots: 4–5 % of the source's samples;
 * - each record is encoded into a zero-filled 512-byte buffer of its own, sized with 64-bit Long
 *   arithmetic for its timestamp delta;
 * - each fetched record's offset and timestamp are computed from the batch's decimal text with
 *   64-bit Long arithmetic;
 * - the CRC-32C of every produced record batch is computed a byte at a time (1.8 % of the
 *   source's samples).
 * The modules that use them keep what they required at load, so this must be evaluated before
 * kafkajs is: core/kafka.ts, core/kafka-codecs.ts and commands.ts import it first. Loaded later,
 * it changes nothing and kafkajs works as before, only slower.
 */

const require = createRequire(import.meta.url);

/** Puts `exports` in the module cache under kafkajs' module `path`. */
function replaceModule(path: string, exports: unknown): void {
  require(path);
  const cached = require.cache[path];
  if (cached) cached.exports = exports;
}

// ---- grouping ----

interface PartitionerArgs<M> {
  topic: string;
  partitionMetadata: unknown[];
  message: M;
}

/** The same grouping as kafkajs' groupMessagesPerPartition (partition → its messages in the order given), in one pass. */
export function groupMessagesPerPartition<M>({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (args: PartitionerArgs<M>) => number;
}): Record<number, M[]> {
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition];
    if (current) current.push(message);
    else result[partition] = [message];
  }
  return result;
}

export const KAFKAJS_GROUPING_MODULE = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

// ---- record encoding ----

export interface RecordFields {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Buffer | string | null;
  value?: Buffer | string | null;
  headers?: Record<string, unknown>;
}

/** What kafkajs' record batch reads of an encoded record (an Encoder's `buf` and `buffer`). */
export interface EncodedKafkaRecord {
  buf: Buffer;
  readonly buffer: Buffer;
}

export const KAFKAJS_RECORD_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const kafkajsRecord = require(KAFKAJS_RECORD_MODULE) as (fields: RecordFields) => EncodedKafkaRecord;

/** Zigzag varints as Kafka writes them, for values within ±2^30 (lengths, deltas). */
const SMALL = 2 ** 30;

function varIntSize(value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  let bytes = 1;
  while (zigzag >= 0x80) {
    zigzag >>>= 7;
    bytes++;
  }
  return bytes;
}

function writeVarInt(buf: Buffer, at: number, value: number): number {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  while (zigzag >= 0x80) {
    buf[at++] = (zigzag & 0x7f) | 0x80;
    zigzag >>>= 7;
  }
  buf[at++] = zigzag;
  return at;
}

function byteLength(data: Buffer | string | null | undefined): number {
  return data == null ? -1 : Buffer.isBuffer(data) ? data.length : Buffer.byteLength(data);
}

function writeData(buf: Buffer, at: number, data: Buffer | string | null | undefined, length: number): number {
  at = writeVarInt(buf, at, length);
  if (data == null) return at;
  return at + (Buffer.isBuffer(data) ? data.copy(buf, at) : buf.write(data, at, length, 'utf8'));
}

/**
 * One record (Kafka's record v0: length, attributes, timestamp delta, offset delta, key, value,
 * headers) in a buffer of exactly its size. Records with headers, or with keys, values or deltas
 * of other kinds or sizes than the producers here send, are left to kafkajs.
 */
export function encodeRecord(fields: RecordFields): EncodedKafkaRecord {
  const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = fields;
  const plain =
    (headers === undefined || Object.keys(headers).length === 0) &&
    (key == null || typeof key === 'string' || Buffer.isBuffer(key)) &&
    (value == null || typeof value === 'string' || Buffer.isBuffer(value)) &&
    Number.isInteger(offsetDelta) &&
    Number.isInteger(timestampDelta) &&
    Math.abs(offsetDelta) < SMALL &&
    Math.abs(timestampDelta) < SMALL;
  if (!plain) return kafkajsRecord(fields);
  const keyLength = byteLength(key);
  const valueLength = byteLength(value);
  if (keyLength >= SMALL || valueLength >= SMALL) return kafkajsRecord(fields);
  // attributes (1) + deltas + key + value + header count (0: one byte)
  const body = 1 + varIntSize(timestampDelta) + varIntSize(offsetDelta) + varIntSize(keyLength) + Math.max(keyLength, 0) + varIntSize(valueLength) + Math.max(valueLength, 0) + 1;
  const buf = Buffer.allocUnsafe(varIntSize(body) + body);
  let at = writeVarInt(buf, 0, body);
  buf[at++] = 0;
  at = writeVarInt(buf, at, timestampDelta);
  at = writeVarInt(buf, at, offsetDelta);
  at = writeData(buf, at, key, keyLength);
  at = writeData(buf, at, value, valueLength);
  buf[at] = 0;
  return { buf, buffer: buf };
}

// ---- record decoding ----

/** What a record decoder reads from kafkajs' Decoder. */
export interface KafkaDecoder {
  buffer: Buffer;
  offset: number;
  readInt8(): number;
  readVarInt(): number;
  readVarIntBytes(): Buffer | null;
}

export interface RecordBatchContext {
  firstOffset: string;
  firstTimestamp: string;
  magicByte?: number;
  isControlBatch?: boolean;
  timestampType?: number;
  maxTimestamp?: string;
}

export const KAFKAJS_RECORD_DECODER_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const kafkajsRecordDecoder = require(KAFKAJS_RECORD_DECODER_MODULE) as (decoder: KafkaDecoder, context?: RecordBatchContext) => unknown;
const LOG_APPEND_TIME = 1;
/** Offsets and timestamps below this stay exact as a Number plus any 32-bit delta. */
const SAFE_BASE = Number.MAX_SAFE_INTEGER - 2 ** 32;

/** The batch's first offset and timestamp as Numbers, kept for the batch (its records share the context). */
let lastContext: RecordBatchContext | undefined;
let lastOffset = 0;
let lastTimestamp = 0;

/**
 * One record of a fetched batch, as kafkajs' decoder returns it. kafkajs parses the batch's first
 * offset and timestamp from their decimal text again for every record and adds the deltas in
 * 64-bit `Long` arithmetic; here they are Numbers where that is exact. Records with headers, a
 * timestamp delta beyond 28 bits or offsets beyond 2^53 are decoded by kafkajs' own.
 */
export function decodeRecord(decoder: KafkaDecoder, context = {} as RecordBatchContext): unknown {
  if (context !== lastContext) {
    lastContext = context;
    lastOffset = Number(context.firstOffset);
    lastTimestamp = Number(context.firstTimestamp);
  }
  const start = decoder.offset;
  const { buffer } = decoder;
  // A timestamp delta of at most four varint bytes fits readVarInt's 32-bit arithmetic.
  const deltaAt = start + 1;
  const shortDelta = buffer[deltaAt]! < 0x80 || buffer[deltaAt + 1]! < 0x80 || buffer[deltaAt + 2]! < 0x80 || buffer[deltaAt + 3]! < 0x80;
  if (!shortDelta || !(Math.abs(lastOffset) < SAFE_BASE) || !(Math.abs(lastTimestamp) < SAFE_BASE)) return kafkajsRecordDecoder(decoder, context);
  const attributes = decoder.readInt8();
  const timestampDelta = decoder.readVarInt();
  const offsetDelta = decoder.readVarInt();
  const key = decoder.readVarIntBytes();
  const value = decoder.readVarIntBytes();
  if (decoder.readVarInt() > 0) {
    decoder.offset = start;
    return kafkajsRecordDecoder(decoder, context);
  }
  const { magicByte, isControlBatch = false, timestampType, maxTimestamp } = context;
  return {
    magicByte,
    attributes,
    timestamp: timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : String(lastTimestamp + timestampDelta),
    offset: String(lastOffset + offsetDelta),
    key,
    value,
    headers: {},
    isControlRecord: isControlBatch,
    batchContext: context,
  };
}

// ---- record batch checksum ----

export const KAFKAJS_CRC32C_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/index.js');

/** Eight lookup tables of the Castagnoli polynomial (reflected): table k advances a byte through k more zero bytes. */
const CRC32C_TABLES = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    tables[0]![i] = c;
  }
  for (let k = 1; k < 8; k++) for (let i = 0; i < 256; i++) tables[k]![i] = (tables[k - 1]![i]! >>> 8) ^ tables[0]![tables[k - 1]![i]! & 0xff]!;
  return tables;
})();

/** CRC-32C of `buffer` (unsigned), eight bytes per step ("slicing by 8"). */
export function crc32c(buffer: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = CRC32C_TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = -1;
  let i = 0;
  for (const end8 = buffer.length - 7; i < end8; i += 8) {
    crc ^= buffer[i]! | (buffer[i + 1]! << 8) | (buffer[i + 2]! << 16) | (buffer[i + 3]! << 24);
    crc = t7[crc & 0xff]! ^ t6[(crc >>> 8) & 0xff]! ^ t5[(crc >>> 16) & 0xff]! ^ t4[crc >>> 24]! ^ t3[buffer[i + 4]!]! ^ t2[buffer[i + 5]!]! ^ t1[buffer[i + 6]!]! ^ t0[buffer[i + 7]!]!;
  }
  for (; i < buffer.length; i++) crc = t0[(crc ^ buffer[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

replaceModule(KAFKAJS_GROUPING_MODULE, groupMessagesPerPartition);
replaceModule(KAFKAJS_CRC32C_MODULE, crc32c);
replaceModule(KAFKAJS_RECORD_DECODER_MODULE, decodeRecord);
replaceModule(KAFKAJS_RECORD_MODULE, encodeRecord);
