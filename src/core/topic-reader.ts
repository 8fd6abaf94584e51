import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { CdcError } from './errors.ts';
import { kafkaError } from './kafka.ts';

/**
 * Reads a whole topic, read_committed, up to the end it has when the read starts, then stops
 * (a missing topic reads as empty).
 * A throw-away consumer group is used (kafkajs has no manual assignment) and deleted afterwards.
 *
 * "The end" is tricky with transactions: commit markers take offsets but are never delivered.
 * kafkajs reports, per processed batch, the lag behind the high watermark counted over every
 * record including markers, so a partition is done once a batch ends with lag 0.
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void,
  options: { timeoutMs?: number; groupPrefix?: string } = {},
): Promise<void> {
  const admin = kafka.admin();
  let pending: Set<number>;
  try {
    await admin.connect();
    // A topic that does not exist is empty (kafkajs would retry its metadata for a long while).
    if (!(await admin.listTopics()).includes(topic)) return;
    const offsets = await admin.fetchTopicOffsets(topic);
    pending = new Set(offsets.filter((o) => o.high !== o.low).map((o) => o.partition));
  } catch (error) {
    throw kafkaError(error, `reading the end offsets of ${topic}`);
  } finally {
    await admin.disconnect();
  }
  if (pending.size === 0) return;

  const groupId = `${options.groupPrefix ?? 'cdc'}.reader.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100, sessionTimeout: 10_000 });
  let failure: unknown;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CdcError('KAFKA_UNAVAILABLE', `Timed out reading ${topic} to its end`, { retriable: true })), options.timeoutMs ?? 60_000);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      consumer.on(consumer.events.END_BATCH_PROCESS, (event: { payload: { partition: number; offsetLag: string } }) => {
        if (event.payload.offsetLag === '0') pending.delete(event.payload.partition);
        if (pending.size === 0 || failure) done();
      });
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ message, partition }) => {
            try {
              await onMessage(message, partition);
            } catch (error) {
              failure ??= error;
            }
          },
        })
        .catch(reject);
    });
  } catch (error) {
    throw kafkaError(error, `reading ${topic}`);
  } finally {
    await consumer.disconnect();
    await deleteGroupQuietly(kafka, groupId);
  }
  if (failure) throw failure;
}

async function deleteGroupQuietly(kafka: Kafka, groupId: string): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.deleteGroups([groupId]);
  } catch {
    // An empty group with no offsets expires by itself; nothing depends on deleting it.
  } finally {
    await admin.disconnect();
  }
}
