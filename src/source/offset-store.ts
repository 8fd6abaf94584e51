import type { Kafka } from 'kafkajs';
import { CdcError } from '../core/errors.ts';
import { kafkaError } from '../core/kafka.ts';
import { SourcePosition } from '../core/position.ts';
import { readTopicToEnd } from '../core/topic-reader.ts';
import type { IncrementalProgress } from './incremental-snapshot.ts';
import type { SnapshotProgress } from './snapshot.ts';

/** Unfinished work stored next to the position, committed with the records it covers. */
export interface ResumeState {
  /** Present while an initial snapshot is unfinished. */
  snapshot?: SnapshotProgress | undefined;
  /** Present while an incremental snapshot is unfinished. */
  incremental?: IncrementalProgress | undefined;
}

/** What the source stores in the offsets topic, keyed by SOURCE_ID (JSON, like Kafka Connect). */
export interface StoredOffset extends ResumeState {
  position: SourcePosition;
  /** When it was committed, ms since the epoch. */
  ts: number;
}

export function encodeOffset(position: SourcePosition, state: ResumeState = {}, ts = Date.now()): Buffer {
  return Buffer.from(JSON.stringify({ position: position.toJSON(), ts, ...(state.snapshot ? { snapshot: state.snapshot } : {}), ...(state.incremental ? { incremental: state.incremental } : {}) }));
}

export function decodeOffset(value: Buffer): StoredOffset {
  let parsed: { position?: unknown; ts?: unknown; snapshot?: unknown; incremental?: unknown };
  try {
    parsed = JSON.parse(value.toString('utf8')) as typeof parsed;
  } catch (error) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored source position is not JSON: ${value.toString('utf8').slice(0, 200)}`, { cause: error });
  }
  const position = SourcePosition.fromJSON(parsed.position);
  const ts = typeof parsed.ts === 'number' ? parsed.ts : 0;
  const stored: StoredOffset = { position, ts };
  if (parsed.snapshot !== undefined) {
    const snapshot = tableProgress(parsed.snapshot, 'snapshot') as SnapshotProgress;
    SourcePosition.fromJSON(snapshot.streamFrom);
    stored.snapshot = snapshot;
  }
  if (parsed.incremental !== undefined) stored.incremental = tableProgress(parsed.incremental, 'incremental snapshot') as IncrementalProgress;
  return stored;
}

function tableProgress(value: unknown, what: string): { tables: string[]; done: string[] } {
  const progress = value as { tables?: unknown; done?: unknown } | null;
  if (!progress || !Array.isArray(progress.tables) || !Array.isArray(progress.done)) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored ${what} progress is malformed: ${JSON.stringify(value).slice(0, 200)}`);
  }
  return progress as { tables: string[]; done: string[] };
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
