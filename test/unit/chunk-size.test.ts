import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firstChunkLimit, nextChunkLimit } from '../../src/source/chunk-size.ts';
import { CHANGE_OVERHEAD_BYTES, rowBytes } from '../../src/source/row-bytes.ts';

const bound = { maxRows: 5000, maxBytes: 16 * 1024 * 1024 };
const MiB = 1024 * 1024;

describe('snapshot chunk size', () => {
  it('starts a table at what its average row length says fits, within 1 and the row bound', () => {
    assert.equal(firstChunkLimit(bound, 0), 5000, 'no statistics: the row bound');
    assert.equal(firstChunkLimit(bound, 200), 5000, 'small rows: the row bound');
    assert.equal(firstChunkLimit(bound, 3 * MiB), 5);
    assert.equal(firstChunkLimit(bound, 40 * MiB), 1, 'a row above the byte bound still passes alone');
  });

  it('after a chunk cut by bytes, asks for the rows that fitted; after a full chunk under the bound, doubles back to the row bound', () => {
    assert.equal(nextChunkLimit(bound, 5000, { rows: 6, bytes: 18 * MiB }), 6);
    assert.equal(nextChunkLimit(bound, 6, { rows: 6, bytes: 18 * MiB }), 6, 'the bound reached at the LIMIT: stays');
    assert.equal(nextChunkLimit(bound, 1, { rows: 1, bytes: 40 * MiB }), 1);
    assert.equal(nextChunkLimit(bound, 6, { rows: 6, bytes: 1 * MiB }), 12);
    assert.equal(nextChunkLimit(bound, 3000, { rows: 3000, bytes: MiB }), 5000);
    assert.equal(nextChunkLimit(bound, 5000, { rows: 5000, bytes: MiB }), 5000);
  });

  it('learns nothing from a chunk that ended the table under its LIMIT', () => {
    assert.equal(nextChunkLimit(bound, 64, { rows: 10, bytes: MiB }), 64);
  });

  it("estimates a row's bytes from its strings' and buffers' lengths, 8 bytes for other values, and a change's overhead", () => {
    const row = { id: 7, big: 12n, note: 'abcd', data: Buffer.alloc(1000), none: null };
    assert.equal(rowBytes(row, ['id', 'big', 'note', 'data', 'none']), CHANGE_OVERHEAD_BYTES + 8 + 8 + 4 + 1000 + 8);
  });
});
