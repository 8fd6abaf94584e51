import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { CdcError } from './errors.ts';
import { kafkaError, listTopics } from './kafka.ts';

/**
 * Reads a whole topic, read_committed, up to the end it has when the read starts, then stops
 * (a missing topic reads as empty).
 * A throw-away consumer group is used (kafkajs has no manual assignment) and deleted afterwards.
 *
 * "The end" is tricky with transactions. It is the last stable offset (what `fetchTopicOffsets`
 * answers, read_committed): below a transaction still open it stops short of the high watermark,
 * and a read_committed fetch never returns anything past it until that transaction ends, which may
 * take the broker's transaction timeout or longer (a producer gone during a Kafka restart). And
 * commit markers and aborted records take offsets but are never delivered. So a partition is done
 * once kafkajs reports a processed batch (markers and aborted records included, even when nothing
 * was delivered) whose last offset reaches the end taken at the start.
 */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void,
  options: { timeoutMs?: number; groupPrefix?: string } = {},
): Promise<void> {
  const admin = kafka.admin();
  /** Partition → its end (the next offset after the last one to read), for the partitions not read to it yet. */
  let pending: Map<number, bigint>;
  try {
    await admin.connect();
    // A topic that does not exist is empty (kafkajs would retry its metadata for a long while).
    if (!(await listTopics(admin)).includes(topic)) return;
    const offsets = await admin.fetchTopicOffsets(topic);
    pending = new Map(offsets.filter((o) => BigInt(o.high) > BigInt(o.low)).map((o) => [o.partition, BigInt(o.high)]));
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
      consumer.on(consumer.events.END_BATCH_PROCESS, (event: { payload: { partition: number; lastOffset: string | null } }) => {
        const { partition, lastOffset } = event.payload;
        const end = pending.get(partition);
        if (end !== undefined && lastOffset !== null && BigInt(lastOffset) + 1n >= end) pending.delete(partition);
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
