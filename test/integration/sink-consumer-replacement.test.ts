import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { CdcError } from '../../src/core/errors.ts';
import type { PartitionHandle } from '../../src/sink/batch-pipeline.ts';
import type { SinkConsumer } from '../../src/sink/sink-consumer.ts';
import { testKafka } from '../helpers/kafka.ts';
import { standInConsumer } from '../helpers/sink-consumer.ts';
import { stack, stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Found by the fault run (seed 531520327, docs/faults.md): a topic created around a Kafka restart
 * was never consumed. The sink replaces its consumer when the matching topics change; kafkajs
 * restarts a consumer that crashed on a retriable error (Kafka away) from a timer it arms after its
 * own disconnect, so a replacement that raced the crash left the old consumer to come back as a
 * ghost member with the old topic list. Here the replacement is made to race every crash: the
 * kafkajs logger closes the sink's consumer the moment kafkajs logs the crash.
 */
describe('the sink replacing its consumer while Kafka restarts', () => {
  const prefix = `replace-${randomUUID().slice(0, 8)}`;
  const groupId = `${prefix}.sink`;
  const consumed = new Set<string>();
  let sink: SinkConsumer | undefined;
  let crashes = 0;
  const kafka = new Kafka({
    clientId: 'cdc-tests',
    brokers: stackEnv().KAFKA_BROKERS.split(','),
    retry: { initialRetryTime: 100, retries: 8 },
    logLevel: logLevel.ERROR,
    logCreator: () => (entry) => {
      if (!entry.log.message.startsWith('Crash:')) return;
      crashes++;
      void sink?.close();
    },
  });
  // Only the consumer lifecycle is under test: the pipeline commits whatever it is given.
  const pipeline = {
    async process(batch: { topic: string; messages: unknown[]; lastOffset(): string }, progress: { next: number }, handle: PartitionHandle) {
      consumed.add(batch.topic);
      await handle.commit(batch.lastOffset(), batch.messages.length);
      progress.next = batch.messages.length;
    },
  };
  const stop = new AbortController();
  sink = standInConsumer(kafka, pipeline, prefix, stop.signal);

  /** Retried: right after a broker start, creating a topic may be refused until its metadata has settled. */
  const createWithRecord = async (topic: string) => {
    for (let attempt = 1; ; attempt++) {
      const admin = testKafka().admin();
      const producer = testKafka().producer();
      try {
        await admin.connect();
        if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 2 }] });
        await producer.connect();
        await producer.send({ topic, messages: [{ key: '1', value: 'x' }] });
        return;
      } catch (error) {
        if (attempt === 10) throw error;
        await new Promise((r) => setTimeout(r, 2000));
      } finally {
        await admin.disconnect();
        await producer.disconnect();
      }
    }
  };
  /** What the sink service does every TOPIC_REFRESH_MS (a failure closes the consumer; the next round retries). */
  const refreshUntil = async (what: string, done: () => boolean | Promise<boolean>, timeoutMs: number) => {
    for (const deadline = Date.now() + timeoutMs; !(await done()); ) {
      assert.ok(Date.now() < deadline, `timed out waiting until ${what}`);
      await sink?.refresh().catch(() => sink?.close());
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const members = async () => {
    const admin = testKafka().admin();
    await admin.connect();
    try {
      return (await admin.describeGroups([groupId])).groups[0]?.members.length ?? 0;
    } finally {
      await admin.disconnect();
    }
  };

  after(async () => {
    stop.abort();
    stack('start', 'kafka');
    await sink?.close();
  });

  it('a topic created after the restart is consumed, and the group holds only the current consumer', { timeout: 600_000 }, async () => {
    await createWithRecord(`${prefix}.a`);
    await refreshUntil('the first topic is consumed', () => consumed.has(`${prefix}.a`), 120_000);
    stack('stop', 'kafka');
    // Kafka stays away until the consumer has crashed at least once (and the logger closed it).
    await refreshUntil('the consumer crashes', () => crashes > 0, 180_000);
    stack('start', 'kafka');
    await createWithRecord(`${prefix}.b`);
    await refreshUntil('the topic created after the restart is consumed', () => consumed.has(`${prefix}.b`), 180_000);
    // A ghost would be a second member (its session kept alive by its heartbeats): give it time to show.
    await new Promise((r) => setTimeout(r, 15_000));
    await refreshUntil('the group has one member', async () => (await members()) === 1, 60_000);
    assert.equal(await members(), 1);
  });
});

/**
 * Found by the fault run (seed 760500831, docs/faults.md): a sink stopped with KAFKA_ERROR
 * "Consumer group was not initialized". kafkajs stops a consumer before it restarts it; a batch
 * still in hand then fails its commit with that non-retriable error, which kafkajs hands to the
 * consumer's crash handling, and a non-retriable crash stopped the sink for good. Here the consumer
 * is stopped (as kafkajs does) while a batch is in hand, and the batch then fails so.
 */
describe('a batch failing after its consumer stopped', () => {
  const prefix = `abandon-${randomUUID().slice(0, 8)}`;
  const topic = `${prefix}.t`;
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let inHand = false;
  let committed = false;
  const consumers: Array<{ stop(): Promise<void> }> = [];
  const kafka = testKafka();
  const createConsumer = kafka.consumer.bind(kafka);
  kafka.consumer = (config) => {
    const consumer = createConsumer(config);
    consumers.push(consumer);
    return consumer;
  };
  const pipeline = {
    async process(batch: { lastOffset(): string; messages: unknown[] }, progress: { next: number }, handle: PartitionHandle) {
      if (!inHand) {
        inHand = true;
        await gate;
        throw new CdcError('KAFKA_ERROR', 'Kafka committing offset 1 failed: Consumer group was not initialized, consumer#run must be called first');
      }
      await handle.commit(batch.lastOffset(), batch.messages.length);
      progress.next = batch.messages.length;
      committed = true;
    },
  };
  const stop = new AbortController();
  const sink = standInConsumer(kafka, pipeline, prefix, stop.signal);
  after(async () => {
    stop.abort();
    release();
    await sink.close();
  });

  it('does not stop the sink, and the batch is delivered again', { timeout: 120_000 }, async () => {
    const admin = testKafka().admin();
    const producer = testKafka().producer();
    try {
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
      await producer.connect();
      await producer.send({ topic, messages: [{ key: '1', value: 'x' }] });
    } finally {
      await admin.disconnect();
      await producer.disconnect();
    }
    await sink.refresh();
    await waitFor('the batch is in hand', () => inHand, 60_000, 100);
    const stopped = consumers.at(-1)!.stop();
    await new Promise((r) => setTimeout(r, 500));
    release();
    await stopped;
    // The batch's error reaches the consumer's crash handling after the stop: a non-retriable crash
    // stopped the sink for good.
    await new Promise((r) => setTimeout(r, 3_000));
    assert.equal(sink.fatal, undefined, `the sink stopped: ${sink.fatal?.message}`);
    // Nothing of the abandoned batch was committed: the next consumer gets it again.
    await sink.close();
    await sink.refresh();
    await waitFor('the batch is delivered again and committed', () => committed, 60_000, 200);
  });
});
