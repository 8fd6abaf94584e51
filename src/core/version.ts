import { CdcError } from './errors.ts';
import type { SourcePosition } from './position.ts';

/**
 * The Elasticsearch external version of a change, derived from its source position (never from a
 * Kafka offset, so a replay, a recreated topic or a re-produced change maps to the same number):
 *
 *     version = fileIndex × 2^32 + pos + row
 *
 * `pos` is the byte position where the change's rows event starts and `row` the ordinal of the row
 * inside that event. Every row occupies at least one byte of its event's body, so `pos + row` stays
 * below the next event's start: versions are unique and strictly increase in binlog order, across
 * events, transactions and file rotations (the index increments on rotation and server restart).
 * Snapshot rows carry the snapshot's binlog position with row 0, which is at or below the start of
 * every later transaction, so any later change outranks them.
 *
 * Limits: fileIndex < 2^31 and pos + row < 2^32, giving a version below 2^63 (Elasticsearch's
 * maximum). `RESET MASTER` or a failover to a server with other file numbering breaks monotonicity;
 * see the README (“Versions”).
 */
const POS_BITS = 32n;
const MAX_FILE_INDEX = 2 ** 31 - 1;
const MAX_OFFSET = 2 ** 32 - 1;

export function versionOf(position: Pick<SourcePosition, 'fileIndex' | 'pos' | 'row'>): bigint {
  const offset = position.pos + position.row;
  if (position.fileIndex > MAX_FILE_INDEX || offset > MAX_OFFSET) {
    throw new CdcError('VERSION_OUT_OF_RANGE', `Position file #${position.fileIndex} offset ${offset} does not fit a 63-bit version`, {
      hint: 'Binlog files beyond 4 GiB or more than 2^31 rotations are not supported by this version encoding.',
    });
  }
  return (BigInt(position.fileIndex) << POS_BITS) + BigInt(offset);
}

/** Inverse of versionOf, for diagnostics (`cdc offsets show`, status pages, tests). */
export function describeVersion(version: bigint): { fileIndex: number; offset: number } {
  return { fileIndex: Number(version >> POS_BITS), offset: Number(version & 0xffff_ffffn) };
}
