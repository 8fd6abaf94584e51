import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SourcePosition } from '../../src/core/position.ts';
import type { StreamItem } from '../../src/source/stream-items.ts';
import { StreamQueue } from '../../src/source/stream-queue.ts';

const commit = (pos: number): StreamItem => ({ kind: 'commit', end: new SourcePosition('b.000001', pos), tsMs: 0 });

/** A queue of `maxBytes` whose producer (the binlog reader, in the service) is paused and resumed by it. */
function pausingQueue(maxBytes: number): { queue: StreamQueue; paused: () => boolean } {
  let paused = false;
  const queue = new StreamQueue(
    maxBytes,
    () => {
      paused = true;
    },
    () => {
      paused = false;
    },
  );
  return { queue, paused: () => paused };
}

describe('StreamQueue', () => {
  it('pauses its producer before a burst could pass the bound, and resumes below half of it', () => {
    const { queue, paused } = pausingQueue(10_000);
    // A producer that, like the binlog reader, delivers a whole burst (one rows event) before it can stop.
    let pos = 0;
    while (!paused()) {
      queue.expectBurst(1_500);
      for (let i = 0; i < 10; i++) queue.push(commit(++pos), 150);
    }
    assert.ok(queue.highWaterBytes <= 10_000, `held ${queue.highWaterBytes} bytes`);
    assert.ok(queue.highWaterBytes >= 8_500, 'but used most of its bound');
    queue.take(20, Number.MAX_SAFE_INTEGER);
    assert.equal(paused(), true, 'still above half');
    queue.take(20, Number.MAX_SAFE_INTEGER);
    assert.equal(paused(), false, 'below half: resumed');
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

  it('ends the linger as soon as a full batch waits or the queue is full, not after its time', async () => {
    const { queue, paused } = pausingQueue(1_000);
    const state = (promise: Promise<void>) => Promise.race([promise.then(() => 'ended'), new Promise((resolve) => setImmediate(() => resolve('lingering')))]);
    queue.push(commit(1), 100);
    const enough = () => queue.holds(3, Number.MAX_SAFE_INTEGER);
    const grouping = queue.linger(60_000, enough);
    assert.equal(await state(grouping), 'lingering', 'one change of three: it waits');
    queue.push(commit(2), 100);
    assert.equal(await state(grouping), 'lingering');
    queue.push(commit(3), 100);
    assert.equal(await state(grouping), 'ended', 'three changes: a full batch');
    queue.take(10, Number.MAX_SAFE_INTEGER);

    // A batch the queue's bytes cannot reach: the reader pauses first, and nothing more comes until items are taken.
    queue.push(commit(4), 100);
    const filling = queue.linger(60_000, () => queue.holds(100, Number.MAX_SAFE_INTEGER));
    for (let pos = 5; !paused(); pos++) queue.push(commit(pos), 100);
    assert.equal(await state(filling), 'ended', 'the queue is full');
    assert.equal(await state(queue.linger(60_000, () => false)), 'ended', 'a linger that starts on a full queue does not wait');
    queue.take(100, Number.MAX_SAFE_INTEGER);
    assert.equal(paused(), false);

    const started = Date.now();
    queue.push(commit(99), 100);
    await queue.linger(30, () => false);
    assert.ok(Date.now() - started >= 20, 'otherwise it waits its time');
  });
});
