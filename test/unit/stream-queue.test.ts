import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourcePosition } from '../../src/core/position.ts';
import type { StreamItem } from '../../src/source/stream-items.ts';
import { StreamQueue } from '../../src/source/stream-queue.ts';

const commit = (pos: number): StreamItem => ({ kind: 'commit', end: new SourcePosition('b.000001', pos), tsMs: 0 });

describe('StreamQueue', () => {
  it('pauses its producer before a burst could pass the bound, and resumes below half of it', () => {
    let paused = false;
    const queue = new StreamQueue(
      10_000,
      () => {
        paused = true;
      },
      () => {
        paused = false;
      },
    );
    // A producer that, like the binlog reader, delivers a whole burst (one rows event) before it can stop.
    let pos = 0;
    while (!paused) {
      queue.expectBurst(1_500);
      for (let i = 0; i < 10; i++) queue.push(commit(++pos), 150);
    }
    assert.ok(queue.highWaterBytes <= 10_000, `held ${queue.highWaterBytes} bytes`);
    assert.ok(queue.highWaterBytes >= 8_500, 'but used most of its bound');
    queue.take(20, Number.MAX_SAFE_INTEGER);
    assert.equal(paused, true, 'still above half');
    queue.take(20, Number.MAX_SAFE_INTEGER);
    assert.equal(paused, false, 'below half: resumed');
  });

  it('takes items in order within the event and byte limits, at least one', () => {
    const queue = new StreamQueue(
      1 << 20,
      () => undefined,
      () => undefined,
    );
    for (let pos = 1; pos <= 5; pos++) queue.push(commit(pos), 100);
    const ends = (items: StreamItem[]) => items.map((i) => ('kind' in i && i.kind === 'commit' ? i.end.pos : -1));
    assert.deepEqual(ends(queue.take(2, 1000)), [1, 2]);
    assert.deepEqual(ends(queue.take(10, 150)), [3]);
    assert.deepEqual(ends(queue.take(10, 10)), [4], 'one item even above the byte limit');
    assert.equal(queue.holds(1, 1000), true);
    assert.deepEqual(ends(queue.take(10, 1000)), [5]);
    assert.equal(queue.length, 0);
    assert.equal(queue.bytes, 0);
  });
  it('ends a wait on wake(), also a wake that came while nobody waited (a settled Kafka transaction is not missed)', async () => {
    const queue = new StreamQueue(
      1 << 20,
      () => undefined,
      () => undefined,
    );
    const started = Date.now();
    queue.wake();
    await queue.wait(60_000);
    const waiting = queue.wait(60_000);
    queue.wake();
    await waiting;
    assert.ok(Date.now() - started < 5_000, 'neither wait ran to its timeout');
    const before = Date.now();
    await queue.wait(50);
    assert.ok(Date.now() - before >= 40, 'a wake ends one wait only');
  });
});
