import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it, mock } from 'node:test';
import { crc32c, crc32cByBytes, crc32cByWords } from '../../src/core/crc32c.ts';
import {
  decodeRecord,
  FetchedRecord,
  recordBytes,
  defaultPartitioner,
  fetchedBatch,
  groupMessagesPerPartition,
  murmur2,
  KAFKAJS_BATCH_MODULE,
  KAFKAJS_CRC32C_MODULE,
  KAFKAJS_DEFAULT_PARTITIONER_MODULE,
  KAFKAJS_GROUPING_MODULE,
  KAFKAJS_MURMUR2_MODULE,
  KAFKAJS_RECORD_DECODER_MODULE,
  type KafkaDecoder,
  type PartitionedMessage,
  type PartitionMetadata,
  type RecordBatchContext,
} from '../../src/core/kafkajs-patches.ts';
import {
  encodeRecord,
  encodeRequest,
  KAFKAJS_PRODUCE_REQUEST_MODULE,
  KAFKAJS_RECORD_MODULE,
  KAFKAJS_REQUEST_MODULE,
  type KafkaEncoder,
  type KafkaRequest,
  type ProduceMessage,
  type ProduceRequestArgs,
  type RecordFields,
} from '../../src/core/kafkajs-produce-encoding.ts';
import '../../src/core/kafka.ts';
import { seededRandom as randomFrom } from '../helpers/seeded-random.ts';

const require = createRequire(import.meta.url);

/** kafkajs' own module, evaluated from its file (the module cache holds ours). */
function kafkajsOwn<T>(path: string): T {
  const module = { exports: {} as T };
  new Function('module', 'exports', 'require', readFileSync(path, 'utf8'))(module, module.exports, createRequire(path));
  return module.exports;
}

describe('kafkajs patches', () => {
  it('groups as kafkajs does: the same partitions, each with its messages in the order given', () => {
    const original = kafkajsOwn<typeof groupMessagesPerPartition>(KAFKAJS_GROUPING_MODULE);
    const random = randomFrom(7);
    for (const partitions of [0, 1, 3, 12]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId }));
      const messages = Array.from({ length: 500 }, (_, i) => ({ key: `k${Math.floor(random() * 50)}`, value: `v${i}` }));
      const partitioner = ({ message }: { message: { key: string } }) => Number(message.key.slice(1)) % Math.max(partitions, 1);
      const args = { topic: 't', partitionMetadata, messages, partitioner };
      assert.deepEqual(groupMessagesPerPartition(args), original(args));
    }
  });

  it('encodes each record to the same bytes as kafkajs: keys and values as buffers, text or null, any delta, headers', () => {
    const original = kafkajsOwn<(fields: RecordFields) => KafkaEncoder>(KAFKAJS_RECORD_MODULE);
    const random = randomFrom(11);
    const data = (): Buffer | string | null => {
      const kind = Math.floor(random() * 4);
      const length = [0, 1, 63, 64, 127, 128, 300, 20_000][Math.floor(random() * 8)]!;
      if (kind === 0) return null;
      if (kind === 1) return 'ü€😀x'.repeat(length).slice(0, length);
      return Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
    };
    const deltas = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, 2 ** 29, -(2 ** 29), 2 ** 31, 1_700_000_000_000];
    for (let i = 0; i < 2_000; i++) {
      const fields: RecordFields = {
        offsetDelta: deltas[Math.floor(random() * 10)]! & 0x3fffffff,
        timestampDelta: deltas[Math.floor(random() * deltas.length)]!,
        key: data(),
        value: data(),
        ...(random() < 0.1 ? { headers: { a: 'x', b: ['1', '2'] } } : random() < 0.1 ? { headers: {} } : {}),
      };
      assert.deepEqual(encodeRecord(fields).buffer, original(fields).buffer, JSON.stringify({ ...fields, key: String(fields.key).slice(0, 20), value: String(fields.value).slice(0, 20) }));
    }
  });

  it('writes produce requests to the same bytes as kafkajs: topics, partitions, timestamps, transactions, producer ids, headers, compression', async () => {
    const original = kafkajsOwn<(args: ProduceRequestArgs) => KafkaRequest>(KAFKAJS_PRODUCE_REQUEST_MODULE);
    const ours = require(KAFKAJS_PRODUCE_REQUEST_MODULE) as (args: ProduceRequestArgs) => KafkaRequest;
    const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): unknown };
    const random = randomFrom(23);
    const pick = <T>(values: T[]): T => values[Math.floor(random() * values.length)]!;
    const data = (): Buffer | string | null =>
      pick([null, 'ü€😀x'.repeat(Math.floor(random() * 40)), Buffer.from(Array.from({ length: pick([0, 1, 127, 128, 3_000]) }, () => Math.floor(random() * 256)))]);
    const message = (): ProduceMessage => ({
      key: data(),
      value: data(),
      ...(random() < 0.02 ? { headers: { a: 'x' } } : {}),
      ...(random() < 0.05 ? { timestamp: pick([1_700_000_000_000, '1700000000123', 1_699_999_999_000]) } : {}),
    });
    mock.method(Date, 'now', () => 1_700_000_000_500);
    try {
      for (let i = 0; i < 300; i++) {
        const args: ProduceRequestArgs = {
          acks: pick([-1, 1, 0]),
          timeout: 30_000,
          ...(random() < 0.5 ? { transactionalId: pick(['cdc-source', 'tx-ü', '']) } : {}),
          ...(random() < 0.5 ? { producerId: pick([Long.fromValue(4_000_000_000_123), 12, '77']), producerEpoch: pick([0, 3, 32_000]) } : {}),
          ...(random() < 0.05 ? { compression: 1 } : {}),
          topicData: Array.from({ length: 1 + Math.floor(random() * 3) }, (_, t) => ({
            topic: `cdc.db.t${t}ü`,
            partitions: Array.from({ length: 1 + Math.floor(random() * 3) }, (_, partition) => ({
              partition,
              ...(random() < 0.5 ? { firstSequence: Math.floor(random() * 1e6) } : {}),
              messages: Array.from({ length: pick([0, 1, 2, 40]) }, message),
            })),
          })),
        };
        const [mine, theirs] = [await ours(args).encode(), await original(args).encode()];
        assert.deepEqual(mine.buffer, theirs.buffer, `request ${i}`);
        assert.equal(mine.offset, theirs.offset);
      }
      // More records in one request than the first pass's size array starts with (no headers: kafkajs would encode it).
      const many: ProduceRequestArgs = {
        acks: -1,
        timeout: 30_000,
        topicData: [0, 1].map((t) => ({ topic: `many${t}`, partitions: [0, 1].map((partition) => ({ partition, messages: Array.from({ length: 1_500 }, () => ({ key: data(), value: data() })) })) })),
      };
      assert.deepEqual((await ours(many).encode()).buffer, (await original(many).encode()).buffer, 'a request of 6,000 records');
    } finally {
      mock.restoreAll();
    }
  });

  it('frames requests as kafkajs does: size, api key and version, correlation id, client id', async () => {
    const original = kafkajsOwn<typeof encodeRequest>(KAFKAJS_REQUEST_MODULE);
    const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkaEncoder & { writeInt32(n: number): KafkaEncoder & { writeString(s: string): KafkaEncoder } };
    for (const clientId of [null, 'cdc', 'cdc-ü']) {
      for (const payload of [() => new Encoder(), () => new Encoder().writeInt32(7).writeString('x'.repeat(5_000))]) {
        const request: KafkaRequest = { apiKey: 0, apiVersion: 7, encode: async () => payload() };
        const [mine, theirs] = [await encodeRequest({ correlationId: 42, clientId, request }), await original({ correlationId: 42, clientId, request })];
        assert.deepEqual(mine.buffer, theirs.buffer);
      }
    }
  });

  it('decodes each record as kafkajs does: offsets and timestamps of any size, log-append time, control batches, headers', () => {
    const original = kafkajsOwn<(decoder: KafkaDecoder, context: RecordBatchContext) => unknown>(KAFKAJS_RECORD_DECODER_MODULE);
    const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => KafkaDecoder;
    const random = randomFrom(13);
    const contexts: RecordBatchContext[] = [
      { firstOffset: '0', firstTimestamp: '1700000000000', magicByte: 2, timestampType: 0 },
      { firstOffset: '123456789012', firstTimestamp: '-1', magicByte: 2, isControlBatch: true },
      { firstOffset: '9007199254740000', firstTimestamp: '1700000000000', magicByte: 2 },
      { firstOffset: '42', firstTimestamp: '9223372036854775000', magicByte: 2 },
      { firstOffset: '42', firstTimestamp: '1700000000000', magicByte: 2, timestampType: 1, maxTimestamp: '1700000000999' },
    ];
    const deltas = [0, 1, -1, 64, 8192, 2 ** 27 - 1, 2 ** 27, -(2 ** 27), 2 ** 31, 1_700_000_000_000];
    for (let i = 0; i < 1_000; i++) {
      const fields: RecordFields = {
        offsetDelta: Math.floor(random() * 100_000),
        timestampDelta: deltas[Math.floor(random() * deltas.length)]!,
        key: random() < 0.2 ? null : Buffer.from(`key-${i}`),
        value: random() < 0.1 ? null : Buffer.from('v'.repeat(Math.floor(random() * 300))),
        ...(random() < 0.1 ? { headers: { a: 'x', b: ['1', '2'], c: 'y' } } : {}),
      };
      const bytes = Buffer.concat([encodeRecord(fields).buffer, Buffer.from([7, 7])]);
      const context = contexts[i % contexts.length]!;
      // The decoder is handed a record after its length, as the batch decoder does.
      const ours = new Decoder(bytes);
      const theirs = new Decoder(bytes);
      ours.offset = theirs.offset = bytes.indexOf(0);
      const decoded = decodeRecord(ours, context) as { key: Buffer | null; value: Buffer | null };
      // Ours decodes every record without headers whose batch offsets and timestamp delta fit Numbers (zigzag in 4 varint bytes); kafkajs' the rest.
      const zigzag = fields.timestampDelta! >= 0 ? 2 * fields.timestampDelta! : -2 * fields.timestampDelta! - 1;
      const ownPath = !fields.headers && !/^9/.test(context.firstOffset) && !/^9/.test(context.firstTimestamp) && zigzag < 2 ** 28;
      assert.equal(decoded instanceof FetchedRecord, ownPath, `decoded by ${ownPath ? 'ours' : "kafkajs'"}: ${JSON.stringify(fields)}`);
      assert.deepEqual(fieldsOf(decoded), fieldsOf(original(theirs, context)), JSON.stringify(fields));
      assert.equal(recordBytes(decoded), (fields.key?.length ?? 0) + (fields.value?.length ?? 0));
      assert.equal(ours.offset, theirs.offset);
    }
  });

  it("tells the registry id of a fetched record's key and value without a view of them, as the wire format's header says", () => {
    const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => KafkaDecoder;
    const framed = (id: number, body = 'x') => Buffer.concat([Buffer.from([0]), int32(id), Buffer.from(body)]);
    const cases: Array<[Buffer | null, number]> = [
      [framed(7), 7],
      [framed(2 ** 31 - 1, ''), 2 ** 31 - 1],
      [framed(-2), -2],
      [null, -1],
      [Buffer.from([0, 0, 0, 1]), -1],
      [Buffer.from([1, 0, 0, 0, 9, 5]), -1],
      [Buffer.from('{"schema":{}}'), -1],
    ];
    for (const [key, keyId] of cases) {
      for (const [value, valueId] of cases) {
        const bytes = Buffer.concat([Buffer.from([9, 9, 9]), encodeRecord({ key, value }).buffer]);
        const decoder = new Decoder(bytes);
        decoder.offset = bytes.indexOf(0, 3);
        const decoded = decodeRecord(decoder, { firstOffset: '5', firstTimestamp: '1700000000000', magicByte: 2 }) as FetchedRecord;
        assert.ok(decoded instanceof FetchedRecord);
        assert.deepEqual([decoded.schemaIdOf('key'), decoded.schemaIdOf('value')], [keyId, valueId], `${key?.toString('hex')} / ${value?.toString('hex')}`);
      }
    }
  });

  // Both ways of reading the bytes, whichever this machine's byte order picks for crc32c().
  for (const [name, checksum] of [
    ['four bytes per load (little-endian machines)', crc32cByWords],
    ['one byte at a time (any machine)', crc32cByBytes],
  ] as const) {
    it(`checksums record batches as kafkajs does, ${name}: CRC-32C's check value, every length up to 64, large and offset views`, () => {
      const original = kafkajsOwn<(buffer: Buffer) => number>(KAFKAJS_CRC32C_MODULE);
      assert.equal(checksum(Buffer.from('123456789')), 0xe3069283);
      const random = randomFrom(17);
      const bytes = Buffer.from(Array.from({ length: 300_000 }, () => Math.floor(random() * 256)));
      for (let length = 0; length <= 64; length++) assert.equal(checksum(bytes.subarray(3, 3 + length)), original(bytes.subarray(3, 3 + length)), `length ${length}`);
      for (let i = 0; i < 200; i++) {
        const from = Math.floor(random() * 1000);
        const view = bytes.subarray(from, from + Math.floor(random() * 290_000));
        assert.equal(checksum(view), original(view));
      }
      assert.equal(checksum(Buffer.alloc(100_000, 0xff)), original(Buffer.alloc(100_000, 0xff)));
    });
  }

  it("hashes keys as kafkajs' default partitioner does: every length up to 64, long keys, text keys", () => {
    const original = kafkajsOwn<(key: Buffer | string) => number>(KAFKAJS_MURMUR2_MODULE);
    const random = randomFrom(19);
    const bytes = Buffer.from(Array.from({ length: 5_000 }, () => Math.floor(random() * 256)));
    for (let length = 0; length <= 64; length++) {
      const key = bytes.subarray(length, 2 * length);
      assert.equal(murmur2(key), original(key), `length ${length}`);
    }
    for (let i = 0; i < 200; i++) {
      const from = Math.floor(random() * 1000);
      const key = bytes.subarray(from, from + Math.floor(random() * 4_000));
      assert.equal(murmur2(key), original(key));
    }
    for (const key of ['21', 'foobar', 'ü€😀', '']) assert.equal(murmur2(key), original(key), key);
    // Check values from the Java client's UtilsTest.
    assert.deepEqual(['21', 'foobar', 'a-little-bit-long-string', 'abc'].map(murmur2), [-973932308, -790332482, -985981536, 479470107]);
  });

  it("partitions as kafkajs' default partitioner does: given partitions, keys, and round robin over the partitions with a leader", () => {
    type Partitioner = (args: { topic: string; partitionMetadata: PartitionMetadata[]; message: PartitionedMessage }) => number;
    const original = kafkajsOwn<() => Partitioner>(KAFKAJS_DEFAULT_PARTITIONER_MODULE)();
    const ours = defaultPartitioner();
    const random = randomFrom(31);
    const metadata = (count: number, leaderless: number[] = []) => Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: leaderless.includes(partitionId) ? -1 : 1 }));
    for (let i = 0; i < 2_000; i++) {
      const partitionMetadata = metadata(1 + Math.floor(random() * 12), random() < 0.3 ? [0, 2] : []);
      const message: PartitionedMessage =
        random() < 0.2
          ? { partition: Math.floor(random() * 12), key: 'k' }
          : { key: random() < 0.5 ? `key-${Math.floor(random() * 1e6)}` : Buffer.from(Array.from({ length: Math.floor(random() * 40) }, () => Math.floor(random() * 256))) };
      assert.equal(ours({ topic: 't', partitionMetadata, message }), original({ topic: 't', partitionMetadata, message }));
    }
    // Without key or partition: the partitions with a leader in turn, from any start; all of them when none has one.
    for (const [partitionMetadata, cycle] of [
      [metadata(5, [1, 3]), [0, 2, 4]],
      [metadata(3, [0, 1, 2]), [0, 1, 2]],
    ] as const) {
      const picked = Array.from({ length: 7 }, () => ours({ topic: `t${cycle.length}${partitionMetadata.length}`, partitionMetadata: [...partitionMetadata], message: { key: null } }));
      const start = cycle.indexOf(picked[0] as never);
      assert.ok(start >= 0, `${picked}`);
      assert.deepEqual(
        picked,
        Array.from({ length: 7 }, (_, i) => cycle[(start + i) % cycle.length]),
      );
    }
  });

  it('builds fetched batches as kafkajs does: records before the fetched offset, control records, aborted transactions, offsets beyond 2^53', () => {
    type Message = { offset: string; isControlRecord: boolean; key: Buffer | null; batchContext: { producerId: string; inTransaction: boolean } };
    type Partition = { partition: number; highWatermark: string; messages: Message[]; abortedTransactions: { producerId: string; firstOffset: string }[] };
    const Original = kafkajsOwn<new (topic: string, fetchedOffset: string, data: Partition) => Record<string, (() => unknown) | unknown>>(KAFKAJS_BATCH_MODULE);
    const random = randomFrom(17);
    const methods = [
      'isEmpty',
      'isEmptyIncludingFiltered',
      'isEmptyDueToFiltering',
      'isEmptyControlRecord',
      'isEmptyDueToLogCompactedMessages',
      'firstOffset',
      'lastOffset',
      'offsetLag',
      'offsetLagLow',
    ];
    for (let i = 0; i < 500; i++) {
      const base = [0n, 1000n, 2n ** 53n - 100n, 2n ** 60n][i % 4]!;
      const count = Math.floor(random() * 8);
      const messages: Message[] = Array.from({ length: count }, (_, k) => {
        const control = random() < 0.2;
        return {
          offset: String(base + BigInt(k * 2)),
          isControlRecord: control,
          key: control ? Buffer.from([0, 0, 0, random() < 0.5 ? 0 : 1]) : null,
          batchContext: { producerId: '7', inTransaction: true },
        };
      });
      const fetched = String(base + BigInt(Math.floor(random() * 6)));
      // Aborted transactions (kafkajs' own filter then) in a fifth of the batches.
      const aborted = random() < 0.2 ? [{ producerId: '7', firstOffset: String(base + 2n) }] : [];
      const data = (): Partition => ({ partition: 3, highWatermark: String(base + BigInt(count * 2 + 1)), messages, abortedTransactions: aborted });
      const ours = new (fetchedBatch as unknown as typeof Original)('t', fetched, data());
      const theirs = new Original('t', fetched, data());
      const context = `batch ${i}: fetched ${fetched}, offsets ${messages.map((m) => `${m.offset}${m.isControlRecord ? 'c' : ''}`).join(' ')}`;
      assert.deepEqual({ ...ours }, { ...theirs }, context);
      for (const method of methods) assert.deepEqual((ours[method] as () => unknown).call(ours), (theirs[method] as () => unknown).call(theirs), `${method}, ${context}`);
    }
  });

  it('are the modules kafkajs uses once core/kafka.ts is loaded', () => {
    assert.equal(require(KAFKAJS_CRC32C_MODULE), crc32c);
    assert.equal(require(KAFKAJS_GROUPING_MODULE), groupMessagesPerPartition);
    assert.equal(require(KAFKAJS_MURMUR2_MODULE), murmur2);
    assert.equal(require(KAFKAJS_DEFAULT_PARTITIONER_MODULE), defaultPartitioner);
    assert.equal(require(KAFKAJS_RECORD_MODULE), encodeRecord);
    assert.equal(require(KAFKAJS_REQUEST_MODULE), encodeRequest);
    assert.equal(require(KAFKAJS_RECORD_DECODER_MODULE), decodeRecord);
    assert.equal(require(KAFKAJS_BATCH_MODULE), fetchedBatch);
  });
});

/** A fetched record's fields as kafkajs names them (ours makes key, value, offset and timestamp when read). */
function fieldsOf(record: unknown): Record<string, unknown> {
  const r = record as Record<string, unknown>;
  const names = ['magicByte', 'attributes', 'timestamp', 'offset', 'key', 'value', 'headers', 'isControlRecord', 'batchContext'];
  return Object.fromEntries(names.map((name) => [name, r[name]]));
}

function int32(n: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(n);
  return buffer;
}
