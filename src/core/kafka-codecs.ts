// Before kafkajs loads: it replaces some of its internals on the per-record path (kafkajs-patches.ts).
import './kafkajs-patches.ts';
import { promisify } from 'node:util';
import { zstdCompress, zstdDecompress } from 'node:zlib';
import kafkajs, { CompressionTypes } from 'kafkajs';
import snappyCodec from 'kafkajs-snappy';
import type { KafkaCompression } from './kafka-compressions.ts';

// A CommonJS export Node's ESM loader cannot name statically.
const { CompressionCodecs } = kafkajs;
import * as lz4 from 'lz4js';
import * as xxh32 from 'lz4js/xxh32.js';

const TYPES: Record<KafkaCompression, CompressionTypes> = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
};

export function compressionType(name: KafkaCompression): CompressionTypes {
  return TYPES[name];
}

/** lz4js writes its whole input as one block of at most 4 MiB per frame block. */
const LZ4_MAX_BLOCK = 4 * 1024 * 1024;
const LZ4_BLOCK_INDEPENDENCE = 0x20;

/**
 * An LZ4 frame Kafka accepts. Kafka refuses frames without the block-independence flag
 * ("Dependent block stream is unsupported"), which lz4js never sets. A record batch below
 * lz4js' 4 MiB block size is a single block, so it is independent and only the flag (and the
 * header checksum over it) must change; larger batches exceed every broker's message.max.bytes
 * default anyway and are refused here rather than written wrongly.
 */
function lz4IndependentFrame(input: Buffer): Buffer {
  if (input.length > LZ4_MAX_BLOCK) throw new RangeError(`LZ4: a record batch of ${input.length} bytes exceeds the ${LZ4_MAX_BLOCK}-byte block this codec writes; use another KAFKA_COMPRESSION`);
  const frame = Buffer.from(lz4.compress(input));
  // Bytes 4 and 5 are the frame descriptor (FLG, BD); byte 6 is its checksum: xxh32 >> 8.
  frame[4]! |= LZ4_BLOCK_INDEPENDENCE;
  frame[6] = (xxh32.hash(0, frame, 4, 2) >>> 8) & 0xff;
  return frame;
}

const zstdPack = promisify(zstdCompress);
const zstdUnpack = promisify(zstdDecompress);

interface Encoder {
  buffer: Buffer;
}

// Every codec is pure JavaScript or Node's own zlib: native codec addons break whenever the Node
// they were built for differs from the one running them (see STACK.md), and a consumer must be
// able to decode whatever codec some producer chose, so all of them are registered in every
// process. zstd comes from node:zlib (Node ≥ 23.8); snappy (xerial framing on decode) from
// kafkajs-snappy/snappyjs; LZ4 frames from lz4js.
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: (encoder: Encoder) => zstdPack(encoder.buffer),
  decompress: (buffer: Buffer) => zstdUnpack(buffer),
});
CompressionCodecs[CompressionTypes.Snappy] = snappyCodec;
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: async (encoder: Encoder) => lz4IndependentFrame(encoder.buffer),
  decompress: async (buffer: Buffer) => Buffer.from(lz4.decompress(buffer)),
});
