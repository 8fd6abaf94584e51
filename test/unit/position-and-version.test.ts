import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { describeVersion, versionAt, versionOf } from '../../src/core/version.ts';

describe('SourcePosition', () => {
  it('orders by file index, then position, then row', () => {
    const ordered = [
      new SourcePosition('mysql-bin.000009', 9_999_999, 5),
      new SourcePosition('mysql-bin.000010', 4, 0),
      new SourcePosition('mysql-bin.000010', 4, 1),
      new SourcePosition('mysql-bin.000010', 120, 0),
    ];
    const shuffled = [ordered[2]!, ordered[0]!, ordered[3]!, ordered[1]!];
    assert.deepEqual(shuffled.sort(SourcePosition.compare), ordered);
    assert.ok(ordered[1]!.isAfter(ordered[0]!));
  });

  it('serialises to one JSON form and back', () => {
    const position = new SourcePosition('binlog.000003', 1056950, 2, '0-101-1360,1-7-9');
    const again = SourcePosition.fromJSON(JSON.parse(JSON.stringify(position)));
    assert.ok(again.equals(position));
    assert.deepEqual(position.toJSON(), { file: 'binlog.000003', pos: 1056950, row: 2, gtids: '0-101-1360,1-7-9' });
  });

  it('orders a position inside a split transaction after its start and before the next event', () => {
    const start = new SourcePosition('mysql-bin.000010', 120, 0, '0-1-5');
    const inside = start.withEvent(300);
    assert.ok(inside.isAfter(start));
    assert.ok(inside.withEvent(301).isAfter(inside));
    assert.ok(new SourcePosition('mysql-bin.000010', 121).isAfter(inside));
    assert.equal(inside.gtids, '0-1-5', 'the GTID set before the transaction: a GTID resume reads it again');
    assert.equal(inside.withoutGtids().event, 300);
  });

  it('serialises `event` only inside a split transaction, and loads positions stored without it', () => {
    const inside = new SourcePosition('binlog.000003', 4, 0, undefined, 7);
    assert.deepEqual(inside.toJSON(), { file: 'binlog.000003', pos: 4, row: 0, event: 7 });
    assert.ok(SourcePosition.fromJSON(JSON.parse(JSON.stringify(inside))).equals(inside));
    const old = SourcePosition.fromJSON({ file: 'binlog.000003', pos: 4, row: 0, gtids: '0-1-2' });
    assert.equal(old.event, 0);
    assert.deepEqual(old.toJSON(), { file: 'binlog.000003', pos: 4, row: 0, gtids: '0-1-2' });
    assert.throws(
      () => SourcePosition.fromJSON({ file: 'binlog.000003', pos: 4, event: 'x' }),
      (e: unknown) => e instanceof CdcError && e.code === 'SOURCE_POSITION_INVALID',
    );
  });

  it('refuses malformed stored positions with SOURCE_POSITION_INVALID', () => {
    for (const bad of [null, 'x', { file: 'binlog.000001' }, { file: 'nosuffix', pos: 4 }, { file: 'b.000001', pos: -1 }, { file: 'b.000001', pos: 4, gtids: 7 }]) {
      assert.throws(
        () => SourcePosition.fromJSON(bad),
        (e: unknown) => e instanceof CdcError && e.code === 'SOURCE_POSITION_INVALID',
        JSON.stringify(bad),
      );
    }
  });
});

describe('versionOf', () => {
  it('is epoch × 2^55 + fileIndex × 2^32 + pos + row, exactly', () => {
    assert.equal(versionOf(new SourcePosition('binlog.000003', 1234, 2)), 3n * 2n ** 32n + 1236n);
    assert.deepEqual(describeVersion(3n * 2n ** 32n + 1236n), { epoch: 0, fileIndex: 3, offset: 1236 });
    const epochTwo = new SourcePosition('binlog.000003', 1234, 2, undefined, 0, 2);
    assert.equal(versionOf(epochTwo), 2n * 2n ** 55n + 3n * 2n ** 32n + 1236n);
    assert.deepEqual(describeVersion(versionOf(epochTwo)), { epoch: 2, fileIndex: 3, offset: 1236 });
    // Either side of the Number path's edge (epoch 0, file 2^21), and the largest parts.
    for (const [epoch, fileIndex, pos, row] of [
      [0, 2 ** 21 - 1, 2 ** 32 - 2, 1],
      [0, 2 ** 21, 0, 0],
      [0, 2 ** 23 - 1, 2 ** 32 - 1, 0],
      [1, 0, 4, 0],
      [255, 2 ** 23 - 1, 2 ** 32 - 1, 0],
    ] as const) {
      assert.equal(versionAt(epoch, fileIndex, pos, row), (BigInt(epoch) << 55n) + (BigInt(fileIndex) << 32n) + BigInt(pos + row), `${epoch}/${fileIndex}/${pos}`);
    }
  });

  it('increases strictly in binlog order, across rotations and binlog epochs', () => {
    const positions = [
      new SourcePosition('binlog.000001', 4_000_000_000, 0),
      new SourcePosition('binlog.000002', 4, 0),
      new SourcePosition('binlog.000002', 4, 1),
      new SourcePosition('binlog.000002', 782, 0),
      new SourcePosition('binlog.8388607', 2 ** 32 - 1, 0),
      // RESET MASTER: the numbering starts again, in the next epoch.
      new SourcePosition('binlog.000001', 4, 0, undefined, 0, 1),
      new SourcePosition('binlog.000001', 330, 0, undefined, 0, 1),
      new SourcePosition('binlog.000001', 4, 0, undefined, 0, 2),
    ];
    const versions = positions.map(versionOf);
    for (let i = 1; i < versions.length; i++) {
      assert.ok(versions[i]! > versions[i - 1]!, `${versions[i]} > ${versions[i - 1]}`);
      assert.ok(positions[i]!.isAfter(positions[i - 1]!), `${positions[i]} after ${positions[i - 1]}`);
    }
  });

  it('stays below 2^63 at the limits and refuses beyond them', () => {
    assert.ok(versionOf({ epoch: 255, fileIndex: 2 ** 23 - 1, pos: 2 ** 32 - 1, row: 0 }) === 2n ** 63n - 1n);
    const outOfRange = (e: unknown) => (e as CdcError).code === 'VERSION_OUT_OF_RANGE';
    assert.throws(() => versionOf({ epoch: 0, fileIndex: 2 ** 23, pos: 4, row: 0 }), outOfRange);
    assert.throws(() => versionOf({ epoch: 0, fileIndex: 1, pos: 2 ** 32 - 1, row: 1 }), outOfRange);
    assert.throws(() => versionOf({ epoch: 256, fileIndex: 1, pos: 4, row: 0 }), outOfRange);
  });

  it('keeps the epoch in the serialisation only after the first history, and reads positions stored without it as epoch 0', () => {
    assert.deepEqual(new SourcePosition('binlog.000001', 4).toJSON(), { file: 'binlog.000001', pos: 4, row: 0 });
    const later = new SourcePosition('binlog.000001', 4, 0, '0-1-9', 0, 3);
    assert.deepEqual(later.toJSON(), { file: 'binlog.000001', pos: 4, row: 0, gtids: '0-1-9', epoch: 3 });
    assert.ok(SourcePosition.fromJSON(later.toJSON()).equals(later));
    assert.equal(SourcePosition.fromJSON({ file: 'binlog.000007', pos: 120 }).epoch, 0);
    assert.throws(
      () => SourcePosition.fromJSON({ file: 'binlog.000001', pos: 4, epoch: '1' }),
      (e: unknown) => (e as CdcError).code === 'SOURCE_POSITION_INVALID',
    );
  });
});
