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
    await readTopicToEnd(kafka, topic, (message) => void values.push(message.value?.toString() ?? ''), { timeoutMs, groupPrefix: 'test' });
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
