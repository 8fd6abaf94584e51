import type { Type } from 'avsc';
import { CdcError } from './errors.ts';

/**
 * The Confluent wire format: magic byte 0, the schema's registry id (4 bytes, big-endian), then the
 * Avro binary encoding. Encoding and decoding are synchronous once the schema id's avsc type is in
 * hand (Registry.avroType), so the hot path resolves ids once per schema, not once per record.
 */
const HEADER_BYTES = 5;

export function encodeFramed(id: number, type: Type, value: unknown): Buffer {
  const body = type.toBuffer(value);
  const framed = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  framed[0] = 0;
  framed.writeInt32BE(id, 1);
  body.copy(framed, HEADER_BYTES);
  return framed;
}

/** The registry id a framed record names; -1 when the buffer is too short to hold one. */
export function schemaIdOf(buffer: Buffer): number {
  return buffer.length >= HEADER_BYTES ? buffer.readInt32BE(1) : -1;
}

export function isFramed(buffer: Buffer): boolean {
  return buffer.length >= HEADER_BYTES && buffer[0] === 0;
}

/** Decodes a framed record with the type of the id it names (the caller resolved it). */
export function decodeFramed(type: Type, buffer: Buffer, what: string): unknown {
  try {
    return type.fromBuffer(buffer.subarray(HEADER_BYTES));
  } catch (error) {
    throw new CdcError('DECODE_FAILED', `Cannot decode the ${what} (schema id ${schemaIdOf(buffer)}): ${(error as Error).message}`, { cause: error });
  }
}
