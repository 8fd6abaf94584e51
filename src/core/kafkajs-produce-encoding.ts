import { createRequire } from 'node:module';
import { crc32c } from './crc32c.ts';

/**
 * Produce requests written once, into one buffer of their exact size. kafkajs encodes every record
 * into a buffer of its own, copies the records into the batch's body, the body into the batch, the
 * batch into its partition's, topic's and request's encoders and the request into its framing: each
 * copy into a new zero-filled buffer grown to a power of two. For 36 MiB of records the source
 * allocated 442 MiB of such buffers, which are freed only by the garbage collector, so they raised
 * its resident memory as much as its CPU. The bytes written are kafkajs' own; the unit tests
 * compare them. kafkajs-patches.ts puts these in place of kafkajs' modules.
 */

const require = createRequire(import.meta.url);

type Data = Buffer | string | null | undefined;

/** kafkajs' Encoder as its request code reads it. */
export interface KafkaEncoder {
  buf: Buffer;
  offset: number;
  readonly buffer: Buffer;
}

const Encoder = require('kafkajs/src/protocol/encoder.js') as { prototype: KafkaEncoder };
const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): { getHighBits(): number; getLowBits(): number } };

/** A kafkajs Encoder holding exactly `buf`. */
function encoderOf(buf: Buffer): KafkaEncoder {
  const encoder = Object.create(Encoder.prototype) as KafkaEncoder;
  encoder.buf = buf;
  encoder.offset = buf.length;
  return encoder;
}

// ---- records ----

export interface RecordFields {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: Data;
  value?: Data;
  headers?: Record<string, unknown> | undefined;
}

export const KAFKAJS_RECORD_MODULE = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const kafkajsRecord = require(KAFKAJS_RECORD_MODULE) as (fields: RecordFields) => KafkaEncoder;

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

function byteLength(data: Data): number {
  return data == null ? -1 : Buffer.isBuffer(data) ? data.length : Buffer.byteLength(data);
}

function writeData(buf: Buffer, at: number, data: Data, length: number): number {
  at = writeVarInt(buf, at, length);
  if (data == null) return at;
  return at + (Buffer.isBuffer(data) ? data.copy(buf, at) : buf.write(data, at, length, 'utf8'));
}

/**
 * The body size of a record (Kafka's record v0: attributes, timestamp delta, offset delta, key,
 * value, headers), or -1 when kafkajs must encode it: records with headers, or with keys, values or
 * deltas of other kinds or sizes than the producers here send.
 */
function plainBodySize(key: Data, value: Data, headers: RecordFields['headers'], offsetDelta: number, timestampDelta: number): number {
  const plain =
    (headers === undefined || Object.keys(headers).length === 0) &&
    (key == null || typeof key === 'string' || Buffer.isBuffer(key)) &&
    (value == null || typeof value === 'string' || Buffer.isBuffer(value)) &&
    Number.isInteger(offsetDelta) &&
    Number.isInteger(timestampDelta) &&
    Math.abs(offsetDelta) < SMALL &&
    Math.abs(timestampDelta) < SMALL;
  if (!plain) return -1;
  const keyLength = byteLength(key);
  const valueLength = byteLength(value);
  if (keyLength >= SMALL || valueLength >= SMALL) return -1;
  // attributes (1) + deltas + key + value + header count (0: one byte)
  return 1 + varIntSize(timestampDelta) + varIntSize(offsetDelta) + varIntSize(keyLength) + Math.max(keyLength, 0) + varIntSize(valueLength) + Math.max(valueLength, 0) + 1;
}

/** Writes a record of `body` bytes (plainBodySize) with its length at `at`; returns where it ends. */
function writePlainRecord(buf: Buffer, at: number, body: number, key: Data, value: Data, offsetDelta: number, timestampDelta: number): number {
  at = writeVarInt(buf, at, body);
  buf[at++] = 0;
  at = writeVarInt(buf, at, timestampDelta);
  at = writeVarInt(buf, at, offsetDelta);
  at = writeData(buf, at, key, byteLength(key));
  at = writeData(buf, at, value, byteLength(value));
  buf[at++] = 0;
  return at;
}

/** One record in a buffer of exactly its size; what plainBodySize refuses is left to kafkajs. */
export function encodeRecord(fields: RecordFields): KafkaEncoder {
  const { offsetDelta = 0, timestampDelta = 0, key, value, headers } = fields;
  const body = plainBodySize(key, value, headers, offsetDelta, timestampDelta);
  if (body < 0) return kafkajsRecord(fields);
  const buf = Buffer.allocUnsafe(varIntSize(body) + body);
  writePlainRecord(buf, 0, body, key, value, offsetDelta, timestampDelta);
  return encoderOf(buf);
}

// ---- produce requests (v3, which v4 to v7 reuse) ----

export interface ProduceMessage {
  key?: Data;
  value?: Data;
  headers?: Record<string, unknown>;
  timestamp?: number | string | null;
}

export interface ProduceRequestArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  compression?: number;
  topicData: Array<{ topic: string; partitions: Array<{ partition: number; firstSequence?: number; messages: ProduceMessage[] }> }>;
}

export interface KafkaRequest {
  apiKey: number;
  apiVersion: number;
  encode(): Promise<KafkaEncoder>;
}

export const KAFKAJS_PRODUCE_REQUEST_MODULE = require.resolve('kafkajs/src/protocol/requests/produce/v3/request.js');

const UNCOMPRESSED = 0;
const MAGIC_BYTE = 2;
const TRANSACTIONAL = 16;
/** A record batch's bytes besides its records: first offset, length, leader epoch, magic, CRC, attributes, last offset delta, two timestamps, producer id and epoch, first sequence, record count. */
const BATCH_OVERHEAD = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

function stringSize(text: string | null): number {
  return 2 + (text == null ? 0 : Buffer.byteLength(text));
}

function writeString(buf: Buffer, at: number, text: string | null): number {
  if (text == null) return buf.writeInt16BE(-1, at);
  const length = Buffer.byteLength(text);
  at = buf.writeInt16BE(length, at);
  return at + buf.write(text, at, length, 'utf8');
}

/** An int64 from what kafkajs accepts for one (number, decimal text, its Long), converted as its Encoder does. */
function writeInt64(buf: Buffer, at: number, value: unknown): number {
  const long = Long.fromValue(value);
  buf.writeInt32BE(long.getHighBits(), at);
  return buf.writeInt32BE(long.getLowBits(), at + 4);
}

/** A partition's batch timestamps as kafkajs picks them: the given ones sorted as text, else now. */
function batchTimestamps(messages: ProduceMessage[], now: number): [first: number | string, max: number | string] {
  if (!messages.some((m) => m.timestamp != null)) return [now, now];
  const given = messages
    .map((m) => m.timestamp)
    .filter((t) => t != null)
    .sort();
  return [given[0]!, given[given.length - 1]!];
}

interface BatchPlan {
  now: number;
  first: number | string;
  max: number | string;
  recordBytes: number;
}

/**
 * Each record's body size from the first pass, read again by the second (one entry per record of
 * a request; requests are encoded synchronously, so one array serves them all). It grows to the
 * most records one request held.
 */
let bodySizes: Int32Array = new Int32Array(1024);

/**
 * kafkajs' produce request, whose encode writes the request in one pass into one buffer; a
 * compressed request, or one with a record plainBodySize refuses, is encoded by kafkajs' own.
 */
export function produceRequestOver(kafkajsProduceRequest: (args: ProduceRequestArgs) => KafkaRequest): (args: ProduceRequestArgs) => KafkaRequest {
  return (args) => {
    const request = kafkajsProduceRequest(args);
    if ((args.compression ?? UNCOMPRESSED) !== UNCOMPRESSED) return request;
    return { ...request, encode: async () => encodeProduceRequest(args) ?? request.encode() };
  };
}

function encodeProduceRequest(args: ProduceRequestArgs): KafkaEncoder | undefined {
  const { acks, timeout, transactionalId = null, producerId = -1, producerEpoch = 0, topicData } = args;
  // First pass: every batch's size (and kafkajs' timestamps for it), so the request is written once.
  const plans: BatchPlan[] = [];
  let records = 0;
  let size = stringSize(transactionalId) + 2 + 4 + 4;
  for (const { topic, partitions } of topicData) {
    size += stringSize(topic) + 4;
    for (const { messages } of partitions) {
      const now = Date.now();
      const [first, max] = batchTimestamps(messages, now);
      let recordBytes = 0;
      for (let i = 0; i < messages.length; i++) {
        const { key, value, headers, timestamp } = messages[i]!;
        const body = plainBodySize(key, value, headers, i, ((timestamp || now) as number) - (first as number));
        if (body < 0) return undefined;
        if (records === bodySizes.length) bodySizes = growTo(bodySizes, 2 * records);
        bodySizes[records++] = body;
        recordBytes += varIntSize(body) + body;
      }
      plans.push({ now, first, max, recordBytes });
      size += 4 + 4 + BATCH_OVERHEAD + recordBytes;
    }
  }
  const buf = Buffer.allocUnsafe(size);
  let at = writeString(buf, 0, transactionalId);
  at = buf.writeInt16BE(acks, at);
  at = buf.writeInt32BE(timeout, at);
  at = buf.writeInt32BE(topicData.length, at);
  let plan = 0;
  let record = 0;
  for (const { topic, partitions } of topicData) {
    at = writeString(buf, at, topic);
    at = buf.writeInt32BE(partitions.length, at);
    for (const { partition, firstSequence = 0, messages } of partitions) {
      const { now, first, max, recordBytes } = plans[plan++]!;
      at = buf.writeInt32BE(partition, at);
      at = buf.writeInt32BE(BATCH_OVERHEAD + recordBytes, at);
      at = writeInt64(buf, at, 0);
      // The batch's length counts what follows it.
      at = buf.writeInt32BE(BATCH_OVERHEAD - 12 + recordBytes, at);
      at = buf.writeInt32BE(0, at);
      buf[at++] = MAGIC_BYTE;
      const crcAt = at;
      at += 4;
      const checked = at;
      at = buf.writeInt16BE(transactionalId ? TRANSACTIONAL : 0, at);
      at = buf.writeInt32BE(messages.length - 1, at);
      at = writeInt64(buf, at, first);
      at = writeInt64(buf, at, max);
      at = writeInt64(buf, at, producerId);
      at = buf.writeInt16BE(producerEpoch, at);
      at = buf.writeInt32BE(firstSequence, at);
      at = buf.writeInt32BE(messages.length, at);
      for (let i = 0; i < messages.length; i++) {
        const { key, value, timestamp } = messages[i]!;
        at = writePlainRecord(buf, at, bodySizes[record++]!, key, value, i, ((timestamp || now) as number) - (first as number));
      }
      buf.writeUInt32BE(crc32c(buf.subarray(checked, at)), crcAt);
    }
  }
  return encoderOf(buf);
}

function growTo(array: Int32Array, length: number): Int32Array {
  const grown = new Int32Array(length);
  grown.set(array);
  return grown;
}

// ---- request framing ----

export const KAFKAJS_REQUEST_MODULE = require.resolve('kafkajs/src/protocol/request.js');

/** A request with its size and header (api key and version, correlation id, client id), copied once into a buffer of its exact size. */
export async function encodeRequest({ correlationId, clientId, request }: { correlationId: number; clientId: string | null; request: KafkaRequest }): Promise<KafkaEncoder> {
  const payload = await request.encode();
  const size = 2 + 2 + 4 + stringSize(clientId) + payload.offset;
  const buf = Buffer.allocUnsafe(4 + size);
  let at = buf.writeInt32BE(size, 0);
  at = buf.writeInt16BE(request.apiKey, at);
  at = buf.writeInt16BE(request.apiVersion, at);
  at = buf.writeInt32BE(correlationId, at);
  at = writeString(buf, at, clientId);
  payload.buf.copy(buf, at, 0, payload.offset);
  return encoderOf(buf);
}
