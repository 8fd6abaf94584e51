import { CdcError } from './errors.ts';
import type { SourcePosition } from './position.ts';

/**
 * The Elasticsearch external version of a change, derived from its source position (never from a
 * Kafka offset, so a replay, a recreated topic or a re-produced change maps to the same number):
 *
 *     version = epoch × 2^55 + fileIndex × 2^32 + pos + row
 *
 * `pos` is the byte position where the change's rows event starts and `row` the ordinal of the row
 * inside that event. Every row occupies at least one byte of its event's body, so `pos + row` stays
 * below the next event's start: versions are unique and strictly increase in binlog order, across
 * events, transactions and file rotations (the index increments on rotation and server restart).
 * Snapshot rows carry the snapshot's binlog position with row 0, which is at or below the start of
 * every later transaction, so any later change outranks them.
 *
 * `epoch` numbers the binlog histories a source has read: it increments whenever the binlog starts
 * again under the source (RESET MASTER, a restored or another server, a re-snapshot replacing a lost
 * position), so every change of the new history outranks every document of the old one although
 * its file numbering starts again.
 *
 * Bit budget (63 bits, Elasticsearch's maximum): epoch 8 bits (< 256), fileIndex 23 bits
 * (< 8,388,608 binlog files), pos + row 32 bits (binlog files up to 4 GiB). Epoch 0 gives the
 * versions of the encoding without epochs, so documents indexed before it keep their order.
 */
const OFFSET_BITS = 32n;
const FILE_BITS = 23n;
const EPOCH_SHIFT = OFFSET_BITS + FILE_BITS;
export const MAX_EPOCH = 2 ** 8 - 1;
const MAX_FILE_INDEX = 2 ** Number(FILE_BITS) - 1;
const MAX_OFFSET = 2 ** Number(OFFSET_BITS) - 1;

export function versionOf(position: Pick<SourcePosition, 'epoch' | 'fileIndex' | 'pos' | 'row'>): bigint {
  return versionAt(position.epoch, position.fileIndex, position.pos, position.row);
}

/** versionOf from the position's parts, for a reader that has no position object. */
export function versionAt(epoch: number, fileIndex: number, pos: number, row: number): bigint {
  const offset = pos + row;
  if (!Number.isSafeInteger(offset) || pos < 0 || row < 0 || !Number.isSafeInteger(epoch) || epoch < 0) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Position ${pos}#${row} of epoch ${epoch} is not a binlog position`, {
      hint: 'The record was not written by a source of this kind, or is damaged.',
    });
  }
  if (epoch > MAX_EPOCH) throw epochOutOfRange(epoch);
  if (fileIndex > MAX_FILE_INDEX || offset > MAX_OFFSET) {
    throw new CdcError('VERSION_OUT_OF_RANGE', `Position file #${fileIndex} offset ${offset} does not fit a 63-bit version`, {
      hint: `Binlog files beyond 4 GiB or file numbers above ${MAX_FILE_INDEX} are not supported by this version encoding (README, Versions).`,
    });
  }
  // Epoch 0 below file 2^21 (every change of a first binlog history) is exact as a Number: one BigInt, not five.
  if (epoch === 0 && fileIndex < SAFE_FILE_INDEX) return BigInt(fileIndex * FILE_STEP + offset);
  return (BigInt(epoch) << EPOCH_SHIFT) + (BigInt(fileIndex) << OFFSET_BITS) + BigInt(offset);
}

/** One binlog file's share of a version (2^32), and the file index below which fileIndex × 2^32 + offset stays below 2^53. */
const FILE_STEP = 2 ** Number(OFFSET_BITS);
const SAFE_FILE_INDEX = 2 ** (53 - Number(OFFSET_BITS));

/** The source refuses to start a binlog history whose versions would not fit. */
export function epochOutOfRange(epoch: number): CdcError {
  return new CdcError('VERSION_OUT_OF_RANGE', `Binlog epoch ${epoch} does not fit the version's ${MAX_EPOCH + 1} epochs`, {
    hint: 'The source has seen the binlog start again more often than versions can count. Re-index into new indices with a new SOURCE_ID (its epochs start at 0) and delete the old ones.',
  });
}

/** Inverse of versionOf, for diagnostics (`cdc offsets show`, status pages, tests). */
export function describeVersion(version: bigint): { epoch: number; fileIndex: number; offset: number } {
  return { epoch: Number(version >> EPOCH_SHIFT), fileIndex: Number((version >> OFFSET_BITS) & BigInt(MAX_FILE_INDEX)), offset: Number(version & 0xffff_ffffn) };
}
