import type { Kafka } from 'kafkajs';
import { CdcError } from './errors.ts';
import { SourcePosition } from './position.ts';
import { readTopicToEnd } from './topic-reader.ts';

/**
 * The record a source stores in its offsets topic, keyed by SOURCE_ID (JSON, like Kafka Connect):
 * its position (with the binlog epoch), the server it was read from, and unfinished snapshot work.
 * The source writes it; the source, `cdc offsets` and `cdc check-source` read it.
 */

/** Unfinished snapshot work: the snapshotters own the rest of its shape, the record checks the lists. */
export interface TableProgress {
  tables: string[];
  done: string[];
}

/** Unfinished work stored next to the position, committed with the records it covers. */
export interface ResumeState<S extends TableProgress = TableProgress, I extends TableProgress = TableProgress> {
  /** Present while an initial snapshot is unfinished. */
  snapshot?: S | undefined;
  /** Present while an incremental snapshot is unfinished. */
  incremental?: I | undefined;
}

/**
 * Which server wrote the binlog the position is in: a position is only meaningful on it. `uuid` is
 * MySQL's server_uuid (MariaDB has none).
 */
export interface ServerIdentity {
  serverId: number;
  uuid?: string | undefined;
}

export interface StoredOffset<S extends TableProgress = TableProgress, I extends TableProgress = TableProgress> extends ResumeState<S, I> {
  position: SourcePosition;
  /** Absent in records stored before the identity was kept: then only the position is compared. */
  server: ServerIdentity | undefined;
  /** When it was committed, ms since the epoch. */
  ts: number;
}

export function encodeOffset(position: SourcePosition, state: ResumeState = {}, server?: ServerIdentity, ts = Date.now()): Buffer {
  return Buffer.from(
    JSON.stringify({
      position: position.toJSON(),
      ts,
      ...(server ? { server } : {}),
      ...(state.snapshot ? { snapshot: state.snapshot } : {}),
      ...(state.incremental ? { incremental: state.incremental } : {}),
    }),
  );
}

export function decodeOffset<S extends TableProgress = TableProgress, I extends TableProgress = TableProgress>(value: Buffer): StoredOffset<S, I> {
  let parsed: { position?: unknown; ts?: unknown; server?: unknown; snapshot?: unknown; incremental?: unknown };
  try {
    parsed = JSON.parse(value.toString('utf8')) as typeof parsed;
  } catch (error) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored source position is not JSON: ${value.toString('utf8').slice(0, 200)}`, { cause: error });
  }
  const position = SourcePosition.fromJSON(parsed.position);
  const ts = typeof parsed.ts === 'number' ? parsed.ts : 0;
  const stored: StoredOffset<S, I> = { position, server: serverOf(parsed.server), ts };
  if (parsed.snapshot !== undefined) {
    const snapshot = tableProgress(parsed.snapshot, 'snapshot') as S & { streamFrom?: unknown };
    SourcePosition.fromJSON(snapshot.streamFrom);
    stored.snapshot = snapshot;
  }
  if (parsed.incremental !== undefined) stored.incremental = tableProgress(parsed.incremental, 'incremental snapshot') as I;
  return stored;
}

function serverOf(value: unknown): ServerIdentity | undefined {
  if (value === undefined) return undefined;
  const { serverId, uuid } = (value ?? {}) as { serverId?: unknown; uuid?: unknown };
  if (typeof serverId !== 'number' || (uuid !== undefined && typeof uuid !== 'string')) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored server identity is malformed: ${JSON.stringify(value).slice(0, 200)}`);
  }
  return { serverId, ...(uuid ? { uuid } : {}) };
}

function tableProgress(value: unknown, what: string): TableProgress {
  const progress = value as { tables?: unknown; done?: unknown } | null;
  if (!progress || !Array.isArray(progress.tables) || !Array.isArray(progress.done)) {
    throw new CdcError('SOURCE_POSITION_INVALID', `Stored ${what} progress is malformed: ${JSON.stringify(value).slice(0, 200)}`);
  }
  return progress as TableProgress;
}

/**
 * Reads the last committed record of `sourceId` with read_committed isolation, so a
 * transaction that was open when a previous instance died is never taken as stored.
 */
export async function readStoredOffset<S extends TableProgress = TableProgress, I extends TableProgress = TableProgress>(
  kafka: Kafka,
  topic: string,
  sourceId: string,
  timeoutMs = 60_000,
): Promise<StoredOffset<S, I> | undefined> {
  let latest: StoredOffset<S, I> | undefined;
  await readTopicToEnd(
    kafka,
    topic,
    (message) => {
      if (message.key?.toString('utf8') === sourceId && message.value) latest = decodeOffset<S, I>(message.value);
    },
    { timeoutMs },
  );
  return latest;
}
