import type { ChunkRows, SnapshotChunk } from './snapshot.ts';

/** When a batch closes: at this many rows, estimated bytes or chunks (tables), whichever comes first. */
export interface BatchBounds {
  rows: number;
  bytes: number;
  tables: number;
}

/**
 * Joins the snapshot's chunks into Kafka transactions: a chunk of a small table (a few rows)
 * would otherwise cost a transaction of its own, and a thousand small tables a thousand
 * transactions. A batch closes once it holds `bounds.rows` rows or `bounds.bytes` bytes (a full
 * chunk closes one by itself, so large tables commit chunk by chunk as before) or `bounds.tables`
 * chunks, and at the snapshot's last chunk. Committing a batch stores its last chunk's progress,
 * which covers the chunks before it (progress only grows), so a crash resumes after the last
 * committed batch. A batch holds less than its bounds plus one chunk: a chunk's bound, twice.
 */
export async function* snapshotBatches<R extends ChunkRows>(chunks: AsyncIterable<SnapshotChunk<R>>, bounds: BatchBounds): AsyncGenerator<Array<SnapshotChunk<R>>> {
  let batch: Array<SnapshotChunk<R>> = [];
  let rows = 0;
  let bytes = 0;
  for await (const chunk of chunks) {
    batch.push(chunk);
    rows += chunk.count;
    bytes += chunk.bytes;
    const finished = chunk.progress.done.length === chunk.progress.tables.length;
    if (finished || rows >= bounds.rows || bytes >= bounds.bytes || batch.length >= bounds.tables) {
      yield batch;
      batch = [];
      rows = 0;
      bytes = 0;
    }
  }
  // Stopped before the end: the chunks not yet committed are read again after a restart.
}
