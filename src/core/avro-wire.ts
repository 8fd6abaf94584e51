import type { Type } from 'avsc';
import { Tap } from 'avsc/lib/utils.js';
import { writerOf } from './avro-writer.ts';
import { CdcError } from './errors.ts';

/**
 * The Confluent wire format: magic byte 0, the schema's registry id (4 bytes, big-endian), then the
 * Avro binary encoding. Encoding and decoding are synchronous once the schema id's avsc type is in
 * hand (Registry.avroType), so the hot path resolves ids once per schema, not once per record.
 */
export const HEADER_BYTES = 5;

/**
 * Records are encoded into a shared slab and handed out as views of it: avsc's toBuffer would
 * allocate a zero-filled ArrayBuffer per record (never pooled) and we would copy it once more to
 * frame it, which made allocation and garbage collection the largest cost of the source. A slab
 * stays alive while any record of it does, so memory follows the records in hand, plus one slab.
 */
const SLAB_BYTES = 256 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let used = 0;

/** One cursor serves every record: avsc's encode made one per record. */
const tap = new Tap(slab);

export function encodeFramed(id: number, type: Type, value: unknown): Buffer {
  return encodeFramedWith(id, writerOf(type), value);
}

/** encodeFramed() with the Avro body written by `write` (which must write what the schema of `id` does). */
export function encodeFramedWith<T>(id: number, write: (tap: Tap, value: T) => void, value: T): Buffer {
  for (;;) {
    const start = used;
    // avsc's writers leave the position past the slab's end when the record does not fit.
    tap.buf = slab;
    tap.pos = start + HEADER_BYTES;
    if (tap.pos <= slab.length) write(tap, value);
    if (tap.pos <= slab.length) {
      slab[start] = 0;
      slab.writeInt32BE(id, start + 1);
      used = tap.pos;
      return slab.subarray(start, used);
    }
    // A record larger than what is left: a fresh slab, at least twice the record's size.
    slab = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, 2 * (tap.pos - start)));
    used = 0;
  }
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
  return readFramed(buffer, what, (framed, start) => type.fromBuffer(framed.subarray(start)));
}

/**
 * Reads a framed record's Avro body, from `start` to the buffer's end, with `read` (given the
 * offset, so the hot path makes no view per record); whatever fails is DECODE_FAILED, naming the
 * schema id.
 */
export function readFramed<T>(buffer: Buffer, what: string, read: (buffer: Buffer, start: number) => T): T {
  try {
    return read(buffer, HEADER_BYTES);
  } catch (error) {
    throw new CdcError('DECODE_FAILED', `Cannot decode the ${what} (schema id ${schemaIdOf(buffer)}): ${(error as Error).message}`, { cause: error });
  }
}
