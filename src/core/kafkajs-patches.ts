import { createRequire } from 'node:module';
import { HEADER_BYTES } from './avro-wire.ts';
import { crc32c } from './crc32c.ts';
import {
  encodeRecord,
  encodeRequest,
  KAFKAJS_PRODUCE_REQUEST_MODULE,
  KAFKAJS_RECORD_MODULE,
  KAFKAJS_REQUEST_MODULE,
  type KafkaRequest,
  type ProduceRequestArgs,
  produceRequestOver,
} from './kafkajs-produce-encoding.ts';

/**
 * kafkajs internals on the per-record path, replaced by equivalents that give the same result
 * (the unit tests compare each with kafkajs' own):
 * - the per-partition grouping of a send copies its array for every record (`[...current, m]`),
 *   so one send of n records copies n²/2 array slots: 4–5 % of the source's samples;
 * - each record is encoded into a zero-filled 512-byte buffer of its own, sized with 64-bit Long
 *   arithmetic for its timestamp delta, and a produce request is copied six times over on its way
 *   to the socket (kafkajs-produce-encoding.ts);
 * - each fetched record's offset and timestamp are computed from the batch's decimal text with
 *   64-bit Long arithmetic, and each fetched batch parses every record's offset into a Long again;
 * - the CRC-32C of every produced record batch is computed a byte at a time (1.8 % of the
 *   source's samples);
 * - the default partitioner hashes each key with BigInt arithmetic whose products are never cut to
 *   64 bits, so they grow with the key's length (a fifth of the snapshot's allocations and 2–3 %
 *   of its samples), and lists the partitions with a leader for every message.
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

/**
 * The same grouping as kafkajs' groupMessagesPerPartition (partition → its messages in the order
 * given), in one pass, with one partitioner argument for all of them (the partitioners read it and
 * keep nothing) and an indexed loop: called once per topic of a send, it stays unoptimised, where a
 * for-of loop allocates per message.
 */
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
  const args = { topic, partitionMetadata, message: messages[0]! };
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    args.message = message;
    const partition = partitioner(args);
    const current = result[partition];
    if (current) current.push(message);
    else result[partition] = [message];
  }
  return result;
}

export const KAFKAJS_GROUPING_MODULE = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

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

/** The headers of every record that has none: one frozen object (readers only copy headers), not one per record. */
const NO_HEADERS = Object.freeze({});

/** The batch's first offset and timestamp as Numbers, kept for the batch (its records share the context). */
let lastContext: RecordBatchContext | undefined;
let lastOffset = 0;
let lastTimestamp = 0;

/**
 * One fetched record, with kafkajs' fields. Its key, value, offset and timestamp are made when read,
 * from the fetch response's memory and the batch's Numbers, not when the batch is decoded: a
 * partition's records live until the bulk requests of their chunk are durable, so what each holds
 * is copied by two scavenges and promoted. Made at decode time, they were two Buffer views and two
 * strings per record, and kept kafkajs' view of the whole record alive too. A record is read once
 * or twice (schema ids, then decode), so the views made then die young.
 */
export class FetchedRecord {
  readonly magicByte: number | undefined;
  readonly attributes: number;
  readonly headers = NO_HEADERS;
  readonly isControlRecord: boolean;
  readonly batchContext: RecordBatchContext;
  /** The fetch response's memory (kafkajs hands each record over as a view of its own, which would live as long). */
  readonly #memory: ArrayBufferLike;
  /** Start of the key and of the value in #memory; -1: null. */
  readonly #keyAt: number;
  readonly #keyLength: number;
  readonly #valueAt: number;
  readonly #valueLength: number;
  readonly #offset: number;
  /** The record's timestamp, or the batch's log-append time (its text, as kafkajs gives it). */
  readonly #timestamp: number | string;

  constructor(buffer: Buffer, attributes: number, context: RecordBatchContext, offset: number, timestamp: number | string, key: number, keyLength: number, value: number, valueLength: number) {
    this.magicByte = context.magicByte;
    this.attributes = attributes;
    this.isControlRecord = context.isControlBatch ?? false;
    this.batchContext = context;
    this.#memory = buffer.buffer;
    this.#offset = offset;
    this.#timestamp = timestamp;
    this.#keyAt = key < 0 ? key : buffer.byteOffset + key;
    this.#keyLength = keyLength;
    this.#valueAt = value < 0 ? value : buffer.byteOffset + value;
    this.#valueLength = valueLength;
  }

  get key(): Buffer | null {
    return this.#keyAt < 0 ? null : Buffer.from(this.#memory, this.#keyAt, this.#keyLength);
  }

  get value(): Buffer | null {
    return this.#valueAt < 0 ? null : Buffer.from(this.#memory, this.#valueAt, this.#valueLength);
  }

  /** Bytes of key and value, without making either. */
  get size(): number {
    return this.#keyLength + this.#valueLength;
  }

  /**
   * The registry id the key or the value names in the Confluent wire format (magic byte 0, then the
   * id), or -1 (null, too short, another format): what the sink asks of every record before it
   * decodes it, read without making the view that `key` and `value` make.
   */
  schemaIdOf(part: 'key' | 'value'): number {
    const at = part === 'key' ? this.#keyAt : this.#valueAt;
    const length = part === 'key' ? this.#keyLength : this.#valueLength;
    if (at < 0 || length < HEADER_BYTES) return -1;
    const bytes = bytesOf(this.#memory);
    return bytes[at] === 0 ? bytes.readInt32BE(at + 1) : -1;
  }

  get offset(): string {
    return String(this.#offset);
  }

  get timestamp(): string {
    return String(this.#timestamp);
  }
}

/** A view of a fetch response's whole memory, one per response (its records are read one after another). */
let lastMemory: ArrayBufferLike | undefined;
let lastBytes: Buffer = Buffer.alloc(0);
function bytesOf(memory: ArrayBufferLike): Buffer {
  if (memory !== lastMemory) {
    lastMemory = memory;
    lastBytes = Buffer.from(memory);
  }
  return lastBytes;
}

/** Bytes of a record's key and value; a FetchedRecord tells them without making either. */
export function recordBytes(message: { key: Buffer | null; value: Buffer | null }): number {
  if (message instanceof FetchedRecord) return message.size;
  return (message.key?.length ?? 0) + (message.value?.length ?? 0);
}

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
  const keyLength = decoder.readVarInt();
  const keyAt = keyLength === -1 ? -1 : decoder.offset;
  if (keyLength > 0) decoder.offset += keyLength;
  const valueLength = decoder.readVarInt();
  const valueAt = valueLength === -1 ? -1 : decoder.offset;
  if (valueLength > 0) decoder.offset += valueLength;
  // Headers, and lengths kafkajs would read differently (below -1, or past the bytes fetched), go to kafkajs' own.
  if (keyLength < -1 || valueLength < -1 || decoder.offset > buffer.length || decoder.readVarInt() > 0) {
    decoder.offset = start;
    return kafkajsRecordDecoder(decoder, context);
  }
  const { timestampType, maxTimestamp } = context;
  const timestamp = timestampType === LOG_APPEND_TIME && maxTimestamp ? maxTimestamp : lastTimestamp + timestampDelta;
  return new FetchedRecord(buffer, attributes, context, lastOffset + offsetDelta, timestamp, keyAt, Math.max(0, keyLength), valueAt, Math.max(0, valueLength));
}

// ---- fetched batches ----

export const KAFKAJS_BATCH_MODULE = require.resolve('kafkajs/src/consumer/batch.js');
const KafkajsBatch = require(KAFKAJS_BATCH_MODULE) as new (topic: string, fetchedOffset: string, partitionData: FetchedPartition) => object;

interface FetchedMessage {
  offset: string;
  isControlRecord?: boolean;
}

interface FetchedPartition {
  partition: number;
  highWatermark: string;
  messages: FetchedMessage[];
  abortedTransactions?: unknown[];
}

/**
 * kafkajs' Batch of one fetched partition, built as its constructor builds it, but without a
 * 64-bit Long parsed from every record's offset text to drop records before the fetched offset
 * (offsets are compared as Numbers where exact), and without copying the records' array when
 * nothing is dropped (offsets increase, so the first record decides; no control record to drop).
 * Batches whose offsets a Number cannot hold, or with aborted transactions, keep kafkajs' own
 * filters. The object is of kafkajs' class: its methods are kafkajs' own.
 */
export function fetchedBatch(topic: string, fetchedOffset: string, partitionData: FetchedPartition): object {
  const fetched = Number(fetchedOffset);
  const { messages, abortedTransactions } = partitionData;
  const last = messages.at(-1);
  if (!(fetched < SAFE_BASE) || (last && !(Number(last.offset) < SAFE_BASE)) || (abortedTransactions && abortedTransactions.length > 0)) {
    return new KafkajsBatch(topic, fetchedOffset, partitionData);
  }
  const within = messages.length === 0 || Number(messages[0]!.offset) >= fetched ? messages : messages.filter((m) => Number(m.offset) >= fetched);
  return Object.assign(Object.create(KafkajsBatch.prototype) as object, {
    fetchedOffset,
    topic,
    partition: partitionData.partition,
    highWatermark: partitionData.highWatermark,
    rawMessages: messages,
    messagesWithinOffset: within,
    messages: within.some((m) => m.isControlRecord) ? within.filter((m) => !m.isControlRecord) : within,
  });
}

// ---- key hash of the default partitioner ----

export const KAFKAJS_MURMUR2_MODULE = require.resolve('kafkajs/src/producer/partitioners/default/murmur2.js');

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;

/**
 * Kafka's murmur2 of a record key (Java client's Utils.murmur2, signed 32 bits), in 32-bit integer
 * arithmetic: every step of kafkajs' 64-bit version feeds only the low 32 bits into the result.
 */
export function murmur2(key: Buffer | string): number {
  const data = Buffer.isBuffer(key) ? key : Buffer.from(String(key));
  const length = data.length;
  let h = MURMUR2_SEED ^ length;
  const whole = length & ~3;
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> 24;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M) ^ k;
  }
  // The last one to three bytes, highest first, as Kafka's switch falls through them.
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[whole + 2]! << 16;
    if (tail >= 2) h ^= data[whole + 1]! << 8;
    h ^= data[whole]!;
    h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

// ---- default partitioner ----

export const KAFKAJS_DEFAULT_PARTITIONER_MODULE = require.resolve('kafkajs/src/producer/partitioners/default/index.js');
const randomBytes = require('kafkajs/src/producer/partitioners/legacy/randomBytes.js') as (size: number) => Buffer;

export interface PartitionMetadata {
  partitionId: number;
  leader: number;
}

export interface PartitionedMessage {
  partition?: number | null;
  key?: Buffer | string | null;
}

/**
 * kafkajs' default partitioner (the Java client's: a given partition, else the murmur2 hash of the
 * key, else round robin over the partitions that have a leader), without the list of partitions
 * with a leader it built for every message (6.5 % of the snapshot's allocations). The round robin
 * starts at a random place per topic, drawn at its first message without a key (kafkajs draws it
 * at the topic's first message).
 */
export function defaultPartitioner(): (args: { topic: string; partitionMetadata: PartitionMetadata[]; message: PartitionedMessage }) => number {
  const counters = new Map<string, number>();
  return ({ topic, partitionMetadata, message }) => {
    if (message.partition !== null && message.partition !== undefined) return message.partition;
    if (message.key !== null && message.key !== undefined) return (murmur2(message.key) & 0x7fffffff) % partitionMetadata.length;
    const counter = (counters.get(topic) ?? randomBytes(32).readUInt32BE(0)) + 1;
    counters.set(topic, counter);
    const available = partitionMetadata.filter((p) => p.leader >= 0);
    if (available.length > 0) return available[(counter & 0x7fffffff) % available.length]!.partitionId;
    return (counter & 0x7fffffff) % partitionMetadata.length;
  };
}

export const KAFKAJS_CRC32C_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/index.js');

replaceModule(KAFKAJS_MURMUR2_MODULE, murmur2);
replaceModule(KAFKAJS_DEFAULT_PARTITIONER_MODULE, defaultPartitioner);
replaceModule(KAFKAJS_GROUPING_MODULE, groupMessagesPerPartition);
replaceModule(KAFKAJS_CRC32C_MODULE, crc32c);
replaceModule(KAFKAJS_RECORD_DECODER_MODULE, decodeRecord);
// kafkajs calls it with `new`: a function that returns an object gives that object.
replaceModule(KAFKAJS_BATCH_MODULE, fetchedBatch);
// Before kafkajs' produce request is required: what it falls back to takes this record encoder.
replaceModule(KAFKAJS_RECORD_MODULE, encodeRecord);
replaceModule(KAFKAJS_PRODUCE_REQUEST_MODULE, produceRequestOver(require(KAFKAJS_PRODUCE_REQUEST_MODULE) as (args: ProduceRequestArgs) => KafkaRequest));
replaceModule(KAFKAJS_REQUEST_MODULE, encodeRequest);
