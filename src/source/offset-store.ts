import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { CdcError } from '../core/errors.ts';
import { kafkaError } from '../core/kafka.ts';
import { SourcePosition } from '../core/position.ts';

/** What the source stores in the offsets topic, keyed by SOURCE_ID (JSON, like Kafka Connect). */
export interface StoredOffset {
  position: SourcePosition;
  /** When it was committed, ms since the epoch. */
  ts: number;
}

export function encodeOffset(position: SourcePosition, ts = Date.now()): Buffer {
  return Buffer.from(JSON.stringify({ position: position.toJSON(), ts }));
}

export function decodeOffset(value: Buffer): StoredOffset {
  let parsed: { position?: unknown; ts?: unknown };
  try {
    parsed = JSON.parse(value.toString('utf8')) as typeof parsed;
  } catch (error) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored source position is not JSON: ${value.toString('utf8').slice(0, 200)}`, { cause: error });
  }
  return { position: SourcePosition.fromJSON(parsed.position), ts: typeof parsed.ts === 'number' ? parsed.ts : 0 };
}

/** Creates the compacted offsets topic if it is missing (one partition: one ordered history). */
export async function ensureOffsetsTopic(kafka: Kafka, topic: string, replicationFactor: number): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    await admin.createTopics({
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
  } catch (error) {
    throw kafkaError(error, `creating the offsets topic ${topic}`);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Reads the last committed position of `sourceId` with read_committed isolation, so a
 * transaction that was open when a previous instance died is never taken as stored.
 * Reads the whole (compacted) topic until the consumer has caught up.
 */
export async function readStoredOffset(kafka: Kafka, topic: string, sourceId: string, timeoutMs = 60_000): Promise<StoredOffset | undefined> {
  const admin = kafka.admin();
  await admin.connect();
  let highWatermark: string;
  try {
    const [partition] = await admin.fetchTopicOffsets(topic);
    if (!partition || partition.high === partition.low) return undefined;
    highWatermark = partition.high;
  } catch (error) {
    throw kafkaError(error, `reading the end of ${topic}`);
  } finally {
    await admin.disconnect();
  }

  const groupId = `${sourceId}.offsets-reader.${randomUUID()}`;
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100, sessionTimeout: 10_000 });
  let latest: StoredOffset | undefined;
  let failure: unknown;
  try {
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CdcError('KAFKA_UNAVAILABLE', `Timed out reading the stored position from ${topic}`, { retriable: true })), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      // Caught up when a fetch brings nothing more (transaction markers are never delivered, so
      // the last offset seen can be below the high watermark).
      let joined = false;
      consumer.on(consumer.events.GROUP_JOIN, () => {
        joined = true;
      });
      consumer.on(consumer.events.FETCH, (event: { payload: { numberOfBatches: number } }) => {
        if (joined && event.payload.numberOfBatches === 0) done();
      });
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ message }) => {
            try {
              if (message.key?.toString('utf8') === sourceId && message.value) latest = decodeOffset(message.value);
            } catch (error) {
              failure = error;
              done();
            }
            if (BigInt(message.offset) + 1n >= BigInt(highWatermark)) done();
          },
        })
        .catch(reject);
    });
  } catch (error) {
    throw kafkaError(error, `reading the stored position from ${topic}`);
  } finally {
    await consumer.disconnect();
    await deleteGroupQuietly(kafka, groupId);
  }
  if (failure) throw failure;
  return latest;
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
