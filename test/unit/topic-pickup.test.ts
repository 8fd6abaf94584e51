import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TopicPickup } from '../../src/sink/topic-pickup.ts';

const set = (...topics: string[]) => new Set(topics);

describe('taking up new topics (TopicPickup)', () => {
  it('keeps the consumer while the topics are the same, busy or not', () => {
    const pickup = new TopicPickup(30_000);
    assert.equal(pickup.decide(set('a', 'b'), set('b', 'a'), true, 0), 'keep');
    assert.equal(pickup.decide(set('a'), set('a'), false, 0), 'keep');
  });

  it('replaces an idle consumer at once when topics are added', () => {
    assert.equal(new TopicPickup(30_000).decide(set('a'), set('a', 'b'), false, 0), 'replace');
  });

  it('lets new topics wait for a busy consumer until it is idle at a refresh', () => {
    const pickup = new TopicPickup(30_000);
    assert.equal(pickup.decide(set('a'), set('a', 'b'), true, 0), 'wait');
    assert.ok(pickup.waiting);
    assert.equal(pickup.decide(set('a'), set('a', 'b', 'c'), true, 1_000), 'wait');
    assert.equal(pickup.decide(set('a'), set('a', 'b', 'c'), false, 2_000), 'replace');
    assert.ok(!pickup.waiting);
  });

  it('replaces a busy consumer once the first new topic has waited the longest delay', () => {
    const pickup = new TopicPickup(30_000);
    assert.equal(pickup.decide(set('a'), set('a', 'b'), true, 0), 'wait');
    assert.equal(pickup.decide(set('a'), set('a', 'b', 'c'), true, 29_999), 'wait');
    assert.equal(pickup.decide(set('a'), set('a', 'b', 'c'), true, 30_000), 'replace');
    // The delay counts from the first new topic of the next burst.
    assert.equal(pickup.decide(set('a', 'b', 'c'), set('a', 'b', 'c', 'd'), true, 31_000), 'wait');
    assert.equal(pickup.decide(set('a', 'b', 'c'), set('a', 'b', 'c', 'd'), true, 60_999), 'wait');
    assert.equal(pickup.decide(set('a', 'b', 'c'), set('a', 'b', 'c', 'd'), true, 61_000), 'replace');
  });

  it('replaces a busy consumer at once when a topic is gone, and with no delay allowed', () => {
    assert.equal(new TopicPickup(30_000).decide(set('a', 'b'), set('a', 'c'), true, 0), 'replace');
    assert.equal(new TopicPickup(0).decide(set('a'), set('a', 'b'), true, 0), 'replace');
  });

  it('forgets waiting topics that disappeared again', () => {
    const pickup = new TopicPickup(30_000);
    assert.equal(pickup.decide(set('a'), set('a', 'b'), true, 0), 'wait');
    assert.equal(pickup.decide(set('a'), set('a'), true, 40_000), 'keep');
    assert.equal(pickup.decide(set('a'), set('a', 'c'), true, 41_000), 'wait');
  });
});
