import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { decodeOffset, encodeOffset } from '../../src/core/source-offsets.ts';

describe('the offsets record', () => {
  it('keeps the position with its epoch and the server it was read from', () => {
    const position = new SourcePosition('binlog.000001', 330, 0, '0-101-9', 0, 2);
    const stored = decodeOffset(encodeOffset(position, {}, { serverId: 101, uuid: '3e11fa47-71ca-11e1-9e33-c80aa9429562' }, 1700000000000));
    assert.ok(stored.position.equals(position));
    assert.equal(stored.position.epoch, 2);
    assert.deepEqual(stored.server, { serverId: 101, uuid: '3e11fa47-71ca-11e1-9e33-c80aa9429562' });
    assert.equal(stored.ts, 1700000000000);
  });

  it('reads a record stored before epochs and identities: epoch 0, no server', () => {
    const stored = decodeOffset(Buffer.from(JSON.stringify({ position: { file: 'binlog.000004', pos: 120, row: 0, gtids: '0-101-3' }, ts: 1 })));
    assert.equal(stored.position.epoch, 0);
    assert.equal(stored.server, undefined);
  });

  it('refuses a malformed server identity with a coded error', () => {
    const bad = Buffer.from(JSON.stringify({ position: { file: 'binlog.000004', pos: 120 }, ts: 1, server: { serverId: '101' } }));
    assert.throws(
      () => decodeOffset(bad),
      (e: unknown) => (e as CdcError).code === 'SOURCE_POSITION_INVALID',
    );
  });
});
