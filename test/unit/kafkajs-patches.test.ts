import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import {
  crc32c,
  decodeRecord,
  encodeRecord,
  groupMessagesPerPartition,
  KAFKAJS_CRC32C_MODULE,
  KAFKAJS_GROUPING_MODULE,
  KAFKAJS_RECORD_DECODER_MODULE,
  KAFKAJS_RECORD_MODULE,
  type EncodedKafkaRecord,
  type KafkaDecoder,
  type RecordBatchContext,
  type RecordFields,
} from '../../src/core/kafkajs-patches.ts';
import '../../src/core/kafka.ts';

const require = createRequire(import.meta.url);

/** kafkajs' own module, evaluated from its file (the module cache holds ours). */
function kafkajsOwn<T>(path: string): T {
  const module = { exports: {} as T };
  new Function('module', 'exports', 'require', readFileSync(path, 'utf8'))(module, module.exports, createRequire(path));
  return module.exports;
}

/** A seeded generator, so a failure repeats. */
function randomFrom(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
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
    const original = kafkajsOwn<(fields: RecordFields) => EncodedKafkaRecord>(KAFKAJS_RECORD_MODULE);
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
      assert.deepEqual(decodeRecord(ours, context), original(theirs, context), JSON.stringify(fields));
      assert.equal(ours.offset, theirs.offset);
    }
  });

  it("checksums record batches as kafkajs does: CRC-32C's check value, every length up to 64, large and offset views", () => {
    const original = kafkajsOwn<(buffer: Buffer) => number>(KAFKAJS_CRC32C_MODULE);
    assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
    const random = randomFrom(17);
    const bytes = Buffer.from(Array.from({ length: 300_000 }, () => Math.floor(random() * 256)));
    for (let length = 0; length <= 64; length++) assert.equal(crc32c(bytes.subarray(3, 3 + length)), original(bytes.subarray(3, 3 + length)), `length ${length}`);
    for (let i = 0; i < 200; i++) {
      const from = Math.floor(random() * 1000);
      const view = bytes.subarray(from, from + Math.floor(random() * 290_000));
      assert.equal(crc32c(view), original(view));
    }
    assert.equal(crc32c(Buffer.alloc(100_000, 0xff)), original(Buffer.alloc(100_000, 0xff)));
  });

  it('are the modules kafkajs uses once core/kafka.ts is loaded', () => {
    assert.equal(require(KAFKAJS_CRC32C_MODULE), crc32c);
    assert.equal(require(KAFKAJS_GROUPING_MODULE), groupMessagesPerPartition);
    assert.equal(require(KAFKAJS_RECORD_MODULE), encodeRecord);
    assert.equal(require(KAFKAJS_RECORD_DECODER_MODULE), decodeRecord);
  });
});
