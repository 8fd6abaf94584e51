import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Kafka } from 'kafkajs';
import { writerOver } from '../helpers/writer-over.ts';

/**
 * The order of two topic creations in flight at once cannot be arranged with a real broker, so the
 * admin client is a stand-in that records what it was asked to create and answers when released.
 */
function writerWithAdmin(fail: () => boolean) {
  const created: string[][] = [];
  const releases: Array<() => void> = [];
  const admin = {
    connect: async () => undefined,
    disconnect: async () => undefined,
    listTopics: async () => [],
    createTopics: async ({ topics }: { topics: Array<{ topic: string }> }) => {
      created.push(topics.map((t) => t.topic));
      await new Promise<void>((resolve) => releases.push(resolve));
      if (fail()) throw new Error('broker refused');
      return true;
    },
  };
  const kafka = { producer: () => ({}), admin: () => admin } as unknown as Kafka;
  const writer = writerOver(kafka);
  const releaseAll = () => {
    for (const release of releases.splice(0)) release();
  };
  return { writer, created, releaseAll };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('ensuring topics while an earlier call is under way', () => {
  it('creates each topic once, and every caller waits for the creation of the topics it named', async () => {
    const { writer, created, releaseAll } = writerWithAdmin(() => false);
    let firstDone = false;
    let secondDone = false;
    const first = writer.ensureTopics(['a']).then(() => {
      firstDone = true;
    });
    await turn();
    const second = writer.ensureTopics(['a', 'b', 'b']).then(() => {
      secondDone = true;
    });
    await turn();
    assert.deepEqual(created, [['a'], ['b']]);
    assert.equal(firstDone || secondDone, false, 'nobody goes on before the creation answered');
    releaseAll();
    await Promise.all([first, second]);
    await writer.ensureTopics(['a', 'b']);
    assert.deepEqual(created, [['a'], ['b']], 'known topics are not created again');
  });

  it('fails every caller of a failed creation, and tries again at the next call', async () => {
    let failing = true;
    const { writer, created, releaseAll } = writerWithAdmin(() => failing);
    const first = writer.ensureTopics(['a']);
    const second = writer.ensureTopics(['a']);
    await turn();
    releaseAll();
    await assert.rejects(first, /creating topics a/);
    await assert.rejects(second, /creating topics a/);
    failing = false;
    const third = writer.ensureTopics(['a']);
    await turn();
    releaseAll();
    await third;
    assert.deepEqual(created, [['a'], ['a']]);
  });
});
