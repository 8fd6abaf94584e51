import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Producer } from 'kafkajs';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { testKafka } from '../helpers/kafka.ts';

/**
 * A topic whose end is an open transaction: its last stable offset (what read_committed can read)
 * is below its high watermark, and stays there until the transaction ends. Found by the fault run
 * (a source's offsets topic after a Kafka restart, docs/faults.md): every source start timed out
 * reading its offsets, because the reader waited for a batch that reached the high watermark.
 */
describe('reading a topic to its end (read_committed)', () => {
  const kafka = testKafka();
  const topic = `topic-reader-${randomUUID()}`;
  const open: Producer[] = [];

  const transactional = async (id: string): Promise<Producer> => {
    // A long transaction timeout: the broker must not abort the open transaction during the test.
    const producer = kafka.producer({ transactionalId: `${topic}.${id}`, idempotent: true, maxInFlightRequests: 1, transactionTimeout: 300_000 });
    await producer.connect();
    open.push(producer);
    return producer;
  };
  const readAll = async (timeoutMs: number): Promise<string[]> => {
    const values: string[] = [];
    await readTopicToEnd(kafka, topic, (message) => void values.push(message.value?.toString() ?? ''), { timeoutMs });
    return values;
  };

  before(async () => {
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] });
    await admin.disconnect();
    const writer = await transactional('committed');
    for (const value of ['a', 'b']) {
      const txn = await writer.transaction();
      await txn.send({ topic, messages: [{ key: 'k', value }] });
      await txn.commit();
    }
    const aborted = await writer.transaction();
    await aborted.send({ topic, messages: [{ key: 'k', value: 'aborted' }] });
    await aborted.abort();
  });

  after(async () => {
    for (const producer of open) await producer.disconnect().catch(() => undefined);
    const admin = kafka.admin();
    await admin.connect();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
  });

  it('ends at an aborted transaction: every committed record, none of the aborted ones', async () => {
    assert.deepEqual(await readAll(30_000), ['a', 'b']);
  });

  it('reads a topic larger than one fetch on every partition, in order, without joining a consumer group', async () => {
    const admin = kafka.admin();
    await admin.connect();
    const large = `${topic}-large`;
    try {
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: large, numPartitions: 3 }] });
      const producer = kafka.producer();
      await producer.connect();
      // 9 MiB over three partitions: each partition takes at least one fetch of the reader's 4 MiB, and most two.
      const value = 'x'.repeat(3000);
      for (let sent = 0; sent < 3000; sent += 500) {
        await producer.send({ topic: large, messages: Array.from({ length: 500 }, (_, i) => ({ key: String(sent + i), value: `${sent + i}:${value}`, partition: (sent + i) % 3 })) });
      }
      await producer.disconnect();
      const groupsBefore = new Set((await admin.listGroups()).groups.map((g) => g.groupId));
      const read = new Map<number, number[]>();
      let groupsDuring: string[] | undefined;
      await readTopicToEnd(kafka, large, async (message, partition) => {
        // Looked at while the read is under way: a throw-away group would be deleted after it.
        groupsDuring ??= (await admin.listGroups()).groups.map((g) => g.groupId).filter((id) => !groupsBefore.has(id));
        read.set(partition, [...(read.get(partition) ?? []), Number(message.value!.toString().split(':')[0])]);
      });
      for (const partition of [0, 1, 2]) {
        assert.deepEqual(
          read.get(partition),
          Array.from({ length: 1000 }, (_, i) => i * 3 + partition),
          `partition ${partition}`,
        );
      }
      assert.deepEqual(groupsDuring, []);
    } finally {
      await admin.deleteTopics({ topics: [large] }).catch(() => undefined);
      await admin.disconnect();
    }
  });

  it('ends at a transaction still open: returns the committed records instead of waiting for the transaction to end', async () => {
    const other = await transactional('open');
    const txn = await other.transaction();
    await txn.send({
      topic,
      messages: [
        { key: 'k', value: 'open-1' },
        { key: 'k', value: 'open-2' },
      ],
    });
    // Bounded far below the transaction's timeout: the read must not wait for the broker to abort it.
    assert.deepEqual(await readAll(30_000), ['a', 'b']);
    await txn.abort();
  });
});
