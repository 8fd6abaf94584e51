import type { Kafka } from 'kafkajs';
import { createTopics, kafkaError, listTopics } from '../core/kafka.ts';
import { readStoredOffset, type ResumeState, type StoredOffset } from '../core/source-offsets.ts';
import type { IncrementalProgress } from './incremental-snapshot.ts';
import type { SnapshotProgress } from './snapshot.ts';

/** The offsets record (core/source-offsets.ts) with the source's own snapshot progress types. */
export type SourceResumeState = ResumeState<SnapshotProgress, IncrementalProgress>;
export type SourceStoredOffset = StoredOffset<SnapshotProgress, IncrementalProgress>;

export function readSourceOffset(kafka: Kafka, topic: string, sourceId: string, timeoutMs?: number): Promise<SourceStoredOffset | undefined> {
  return readStoredOffset<SnapshotProgress, IncrementalProgress>(kafka, topic, sourceId, timeoutMs);
}

/** Creates the compacted offsets topic if it is missing (one partition: one ordered history). */
export async function ensureOffsetsTopic(kafka: Kafka, topic: string, replicationFactor: number): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    // Asking first keeps kafkajs from logging TOPIC_ALREADY_EXISTS as an error at every start.
    if ((await listTopics(admin)).includes(topic)) return;
    await createTopics(admin, {
      waitForLeaders: true,
      topics: [{ topic, numPartitions: 1, replicationFactor, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
    });
  } catch (error) {
    throw kafkaError(error, `creating the offsets topic ${topic}`);
  } finally {
    await admin.disconnect();
  }
}
