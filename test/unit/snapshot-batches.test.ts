import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SnapshotChunk } from '../../src/source/snapshot.ts';
import { snapshotBatches } from '../../src/source/snapshot-batches.ts';

/** Chunks of `tables` with these row counts (of 100 bytes each unless given), in order; each table is done after its last chunk. */
function chunks(rowsPerChunk: Array<[table: string, rows: number, tableDone: boolean, bytes?: number]>): SnapshotChunk[] {
  const tables = [...new Set(rowsPerChunk.map(([t]) => t))];
  const done: string[] = [];
  return rowsPerChunk.map(([table, rows, tableDone, bytes = rows * 100]) => {
    if (tableDone) done.push(table);
    return { rows: { add: () => undefined }, table, count: rows, bytes, progress: { streamFrom: { file: 'b.000001', pos: 4 } as never, tables, done: [...done], startedAt: 0 } };
  });
}

async function batchesOf(input: SnapshotChunk[], maxRows: number, maxTables: number, maxBytes = Number.MAX_SAFE_INTEGER): Promise<string[][]> {
  async function* source() {
    yield* input;
  }
  const out: string[][] = [];
  for await (const batch of snapshotBatches(source(), { rows: maxRows, bytes: maxBytes, tables: maxTables })) out.push(batch.map((c) => `${c.count}/${c.progress.done.length}`));
  return out;
}

describe('snapshot batches', () => {
  it('joins small tables into one transaction up to the row and table bounds, and closes at the last chunk', async () => {
    const small = chunks([
      ['a', 2, true],
      ['b', 2, true],
      ['c', 2, true],
      ['d', 2, true],
      ['e', 1, true],
    ]);
    assert.deepEqual(await batchesOf(small, 1000, 2), [['2/1', '2/2'], ['2/3', '2/4'], ['1/5']]);
    assert.deepEqual(await batchesOf(small, 5, 100), [
      ['2/1', '2/2', '2/3'],
      ['2/4', '1/5'],
    ]);
  });

  it('commits a full chunk of a large table by itself, as before', async () => {
    const large = chunks([
      ['a', 10, false],
      ['a', 10, false],
      ['a', 3, true],
      ['b', 2, true],
    ]);
    assert.deepEqual(await batchesOf(large, 10, 100), [['10/0'], ['10/0'], ['3/1', '2/2']]);
  });

  it('closes a batch at its byte bound: chunks of large rows are not joined past it', async () => {
    const large = chunks([
      ['a', 3, false, 9_000],
      ['a', 3, false, 9_000],
      ['b', 1, false, 500],
      ['b', 1, false, 600],
      ['b', 2, true, 100],
      ['c', 1, true, 5_000],
    ]);
    assert.deepEqual(await batchesOf(large, 5000, 100, 1000), [['3/0'], ['3/0'], ['1/0', '1/0'], ['2/1', '1/2']]);
  });
});
