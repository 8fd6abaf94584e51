/**
 * What a change's objects (the event, its row object, the slots of its values) hold in memory
 * beyond the bytes of its values: a rough constant, counted alike for a streamed change (the queue)
 * and a snapshot row (its chunk).
 */
export const CHANGE_OVERHEAD_BYTES = 512;

/** A number, bigint, boolean or null: its slot in the row object. */
const SCALAR_BYTES = 8;

/**
 * The estimated bytes of a row as the server returned it: the length of its strings and buffers,
 * a constant for every other value, and a change's overhead. Cheap on purpose: every snapshot row
 * goes through it.
 */
export function rowBytes(row: Record<string, unknown>, columns: readonly string[]): number {
  let bytes = CHANGE_OVERHEAD_BYTES;
  for (const column of columns) {
    const value = row[column];
    bytes += typeof value === 'string' ? value.length : value instanceof Uint8Array ? value.byteLength : SCALAR_BYTES;
  }
  return bytes;
}
