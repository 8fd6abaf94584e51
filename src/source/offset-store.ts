import type { Kafka } from 'kafkajs';
import { CdcError } from '../core/errors.ts';
import { kafkaError } from '../core/kafka.ts';
import { SourcePosition } from '../core/position.ts';
import { readTopicToEnd } from '../core/topic-reader.ts';
import type { SnapshotProgress } from './snapshot.ts';

/** What the source stores in the offsets topic, keyed by SOURCE_ID (JSON, like Kafka Connect). */
export interface StoredOffset {
  position: SourcePosition;
  /** When it was committed, ms since the epoch. */
  ts: number;
  /** Present while an initial snapshot is unfinished. */
  snapshot?: SnapshotProgress;
}

export function encodeOffset(position: SourcePosition, snapshot?: SnapshotProgress, ts = Date.now()): Buffer {
  return Buffer.from(JSON.stringify({ position: position.toJSON(), ts, ...(snapshot ? { snapshot } : {}) }));
}

export function decodeOffset(value: Buffer): StoredOffset {
  let parsed: { position?: unknown; ts?: unknown; snapshot?: unknown };
  try {
    parsed = JSON.parse(value.toString('utf8')) as typeof parsed;
  } catch (error) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored source position is not JSON: ${value.toString('utf8').slice(0, 200)}`, { cause: error });
  }
  const position = SourcePosition.fromJSON(parsed.position);
  const ts = typeof parsed.ts === 'number' ? parsed.ts : 0;
  if (parsed.snapshot === undefined) return { position, ts };
  const snapshot = parsed.snapshot as Partial<SnapshotProgress> | null;
  if (!snapshot || !Array.isArray(snapshot.tables) || !Array.isArray(snapshot.done) || !snapshot.streamFrom) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored snapshot progress is malformed: ${JSON.stringify(parsed.snapshot).slice(0, 200)}`);
  }
  SourcePosition.fromJSON(snapshot.streamFrom);
  return { position, ts, snapshot: snapshot as SnapshotProgress };
}

/** Creates the compacted offsets topic if it is missing (one partition: one ordered history). */
export async function ensureOffsetsTopic(kafka: Kafka, topic: string, replicationFactor: number): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    // Asking first keeps kafkajs from logging TOPIC_ALREADY_EXISTS as an error at every start.
    if ((await admin.listTopics()).includes(topic)) return;
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
 */
export async function readStoredOffset(kafka: Kafka, topic: string, sourceId: string, timeoutMs = 60_000): Promise<StoredOffset | undefined> {
  let latest: StoredOffset | undefined;
  await readTopicToEnd(
    kafka,
    topic,
    (message) => {
      if (message.key?.toString('utf8') === sourceId && message.value) latest = decodeOffset(message.value);
    },
    { timeoutMs, groupPrefix: sourceId },
  );
  return latest;
}
