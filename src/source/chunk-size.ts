/**
 * How many rows a snapshot chunk asks the server for. A chunk is bounded twice: `maxRows` (the
 * LIMIT) and `maxBytes` (the reader stops taking rows once their estimated bytes reach it, see
 * readChunk). Rows of the query past the byte bound still cross the wire and are dropped, so the
 * LIMIT follows what fits: after a chunk cut by bytes it is the number of rows that fitted, and it
 * doubles back towards `maxRows` after a full chunk that stayed under the bound.
 */
export interface ChunkBound {
  maxRows: number;
  maxBytes: number;
}

/**
 * The first LIMIT for a table, from its average row length in information_schema (0 when unknown):
 * a table of large rows starts with about what fits instead of reading `maxRows` rows and dropping
 * most. The statistics lag behind bulk loads (InnoDB recomputes them in the background), so a
 * stale or missing figure only costs one over-read chunk.
 */
export function firstChunkLimit(bound: ChunkBound, averageRowBytes: number): number {
  if (!(averageRowBytes > 0)) return bound.maxRows;
  return clamp(Math.floor(bound.maxBytes / averageRowBytes), bound.maxRows);
}

/** The LIMIT of the chunk after one that asked for `limit` rows and took `rows` of `bytes` estimated bytes. */
export function nextChunkLimit(bound: ChunkBound, limit: number, taken: { rows: number; bytes: number }): number {
  if (taken.bytes >= bound.maxBytes) return clamp(taken.rows, bound.maxRows);
  if (taken.rows >= limit) return clamp(limit * 2, bound.maxRows);
  // The table (or the incremental window) ended before the LIMIT: nothing learnt.
  return limit;
}

function clamp(rows: number, maxRows: number): number {
  return Math.min(maxRows, Math.max(1, rows));
}
