import type { SnapshotChunk } from './snapshot.ts';

/**
 * Joins the snapshot's chunks into Kafka transactions: a chunk of a small table (a few rows)
 * would otherwise cost a transaction of its own, and a thousand small tables a thousand
 * transactions. A batch closes once it holds `maxRows` rows (a full chunk closes one by itself,
 * so large tables commit chunk by chunk as before) or `maxTables` chunks, and at the snapshot's
 * last chunk. Committing a batch stores its last chunk's progress, which covers the chunks
 * before it (progress only grows), so a crash resumes after the last committed batch. A batch
 * holds at most `maxRows` rows plus one chunk: the memory bound of a chunk, twice.
 */
export async function* snapshotBatches(chunks: AsyncIterable<SnapshotChunk>, maxRows: number, maxTables: number): AsyncGenerator<SnapshotChunk[]> {
  let batch: SnapshotChunk[] = [];
  let rows = 0;
  for await (const chunk of chunks) {
    batch.push(chunk);
    rows += chunk.events.length;
    const finished = chunk.progress.done.length === chunk.progress.tables.length;
    if (finished || rows >= maxRows || batch.length >= maxTables) {
      yield batch;
      batch = [];
      rows = 0;
    }
  }
  // Stopped before the end: the chunks not yet committed are read again after a restart.
}
