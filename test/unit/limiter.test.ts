import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Limiter } from '../../src/core/limiter.ts';

describe('Limiter', () => {
  it('lets at most `limit` holders run, and the waiting ones in arrival order', async () => {
    const limiter = new Limiter(2);
    const started: number[] = [];
    const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
    let most = 0;
    const runs = gates.map((gate, i) =>
      limiter.run(async () => {
        started.push(i);
        most = Math.max(most, limiter.holders);
        await gate.promise;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1]);
    gates[1]!.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1, 2]);
    for (const gate of gates) gate.resolve();
    await Promise.all(runs);
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    assert.equal(most, 2);
    assert.equal(limiter.holders, 0);
  });

  it('frees the place of a holder whose work failed', async () => {
    const limiter = new Limiter(1);
    await assert.rejects(
      limiter.run(() => Promise.reject(new Error('boom'))),
      /boom/,
    );
    assert.equal(await limiter.run(async () => 'next'), 'next');
  });

  it('gives a released place to the first waiter, not to a later arrival', async () => {
    const limiter = new Limiter(1);
    await limiter.acquire();
    const order: string[] = [];
    const first = limiter.acquire().then(() => order.push('first'));
    limiter.release();
    const late = limiter.acquire().then(() => order.push('late'));
    await first;
    limiter.release();
    await late;
    assert.deepEqual(order, ['first', 'late']);
  });
});
