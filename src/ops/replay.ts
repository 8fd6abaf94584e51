import type { Kafka } from 'kafkajs';
import mysql from 'mysql2/promise';
import { mysqlConnectError } from '../core/mysql-errors.ts';
import { CdcError } from '../core/errors.ts';
import { kafkaError } from '../core/kafka.ts';
import { binlogFileIndex, SourcePosition } from '../core/position.ts';
import { optionalRegistry } from '../core/schema-registry.ts';
import { probeServerId, replayServerId, type SourceConfig } from '../config/source.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { BinlogReader } from '../source/binlog-reader.ts';
import { binlogStartTime } from '../source/binlog-start-time.ts';
import { transactionStartAfter } from '../source/binlog-time-search.ts';
import { offsetsTopic, topicFor } from '../core/topics.ts';
import { readStoredOffset } from '../core/source-offsets.ts';
import type { EncodedRecord } from '../source/encoded-record.ts';
import { EventEncoder } from '../source/event-encoder.ts';
import { sendSliceBytes, slices } from '../source/kafka-writer.ts';
import { mysqlConnection } from '../source/mysql-connection.ts';
import { checkSource } from '../source/preconditions.ts';
import { checkRetention } from '../source/retention.ts';
import { sourceTransform } from '../source/source-transform.ts';
import { isBoundary } from '../source/stream-items.ts';
import { StreamQueue } from '../source/stream-queue.ts';
import { type DeadLetterRecord, oversizePolicyOf } from '../source/oversize-policy.ts';
import { loadSchemaRules, schemaRules } from '../source/table-schema.ts';
import { VERSION } from '../version.ts';

/**
 * `cdc replay`: re-reads one table's changes from the binlog since a time or position, up to
 * where the binlog ended when the replay started, and writes them to the table's topic exactly as
 * the live source does (same encoding, same source positions, hence the same Elasticsearch
 * versions). The sink applies only what is newer than the index, so a replay repairs a damaged
 * or rebuilt index and can never make it older. It writes no source offset and does not fence
 * the live source (no transactional id).
 */

/** What a replay holds between the binlog and Kafka. */
const REPLAY_QUEUE_BYTES = 16 * 1024 * 1024;
const REPLAY_BATCH_ITEMS = 5_000;

export type ReplaySince = { time: number } | { position: SourcePosition };

export function parseSince(text: string): ReplaySince {
  const position = /^(.+\.\d+):(\d+)$/.exec(text);
  if (position) return { position: new SourcePosition(position[1]!, Number(position[2])) };
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  if (Number.isFinite(ms)) return { time: ms };
  throw new CdcError('ARGUMENT_INVALID', `--since ${JSON.stringify(text)} is neither a time nor a binlog position`, {
    hint: 'Use an ISO-8601 time (2025-01-31T12:00:00Z), milliseconds since the epoch, or <binlog file>:<position> (mariadb-bin.000042:1234).',
  });
}

export interface ReplayPlan {
  table: string;
  topic: string;
  since: string;
  /** The first position read (a transaction boundary). */
  from: { file: string; pos: number };
  /** Where the binlog ended when the replay started: the last position read. */
  until: { file: string; pos: number };
  files: string[];
  /** Checked before anything is written: the server still has `from`. */
  serverHasPosition: true;
  oldestBinlog: string;
}

export interface ReplayResult extends ReplayPlan {
  records: number;
  changes: { c: number; u: number; d: number };
}

/** Finds where to start and checks that the server still has it; changes nothing. */
export async function planReplay(config: SourceConfig, table: string, sinceText: string): Promise<ReplayPlan> {
  const [database, name, extra] = table.split('.');
  if (!database || !name || extra !== undefined) throw new CdcError('ARGUMENT_INVALID', `--table ${JSON.stringify(table)} is not <database>.<table>`);
  const since = parseSince(sinceText);
  const connection = mysqlConnection(config);
  const conn = await mysql.createConnection({ ...connection, connectTimeout: 10_000 }).catch((error: unknown) => {
    throw mysqlConnectError(error, connection);
  });
  try {
    const [found] = await conn.query('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, name]);
    if ((found as unknown[]).length === 0) throw new CdcError('ARGUMENT_INVALID', `Table ${table} does not exist on the source server`);
    const [logRows] = await conn.query('SHOW BINARY LOGS');
    const logs = (logRows as Array<{ Log_name: string; File_size: number | string }>).map((r) => ({ name: r.Log_name, size: Number(r.File_size) }));
    const last = logs.at(-1)!;
    const until = new SourcePosition(last.name, last.size);
    const startOf = (file: string) => binlogStartTime(connection, file, probeServerId(config));
    let from: SourcePosition;
    if ('position' in since) {
      from = since.position;
    } else {
      from = await positionForTime(connection, replayServerId(config), logs, until, since.time, startOf, logs[0]!.name);
    }
    // Same check as the live source's: the file is still listed and (GTIDs) nothing it needs was purged.
    const retention = await checkRetention(conn, from, { positionTimeMs: Date.now(), startTimeOf: startOf });
    if (from.isAfter(until)) throw new CdcError('ARGUMENT_INVALID', `--since ${sinceText} lies after the end of the binlog (${until.toString()})`);
    return {
      table,
      topic: topicFor(config.TOPIC_PREFIX, database, name),
      since: 'time' in since ? new Date(since.time).toISOString() : from.toString(),
      from: { file: from.file, pos: from.pos },
      until: { file: until.file, pos: until.pos },
      files: logs.map((l) => l.name).filter((f) => binlogFileIndex(f) >= from.fileIndex),
      serverHasPosition: true,
      oldestBinlog: retention.oldestFile,
    };
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** The last binlog file started at or before `since`, scanned for the first transaction committed since then. */
async function positionForTime(
  connection: MysqlConnectionOptions,
  serverId: number,
  logs: Array<{ name: string; size: number }>,
  until: SourcePosition,
  since: number,
  startOf: (file: string) => Promise<number>,
  oldest: string,
): Promise<SourcePosition> {
  for (let i = logs.length - 1; i >= 0; i--) {
    const log = logs[i]!;
    if ((await startOf(log.name)) > since) continue;
    const pos = await transactionStartAfter(connection, serverId, log.name, log.size, since);
    if (pos !== undefined) return new SourcePosition(log.name, pos);
    // Nothing committed since then in this file: the next file (started after `since`) holds the rest.
    const next = logs[i + 1];
    return next ? new SourcePosition(next.name, 4) : until;
  }
  throw new CdcError('SOURCE_POSITION_PURGED', `The server no longer has the binlog of ${new Date(since).toISOString()}: its oldest binlog ${oldest} starts later`, {
    hint: 'Changes from before the oldest binlog cannot be replayed. Replay from a later time, or re-snapshot the table while streaming goes on: `cdc snapshot --tables <db.table>` (incremental snapshot).',
    details: { oldestFile: oldest },
  });
}

/** Replays the plan's range into the table's topic; returns what it wrote. */
export async function runReplay(config: SourceConfig, plan: ReplayPlan, kafka: Kafka): Promise<ReplayResult> {
  const [database, name] = plan.table.split('.') as [string, string];
  const registry = optionalRegistry(config);
  const { connector, rowMetadata } = await checkSource(mysqlConnection(config), replayServerId(config));
  // The live source's binlog epoch: replayed changes get the versions the source gave them.
  const stored = await readStoredOffset(kafka, offsetsTopic(config.TOPIC_PREFIX), config.SOURCE_ID, 30_000);
  const encoder = new EventEncoder(registry, {
    prefix: config.TOPIC_PREFIX,
    sourceId: config.SOURCE_ID,
    connector,
    compatibility: config.SCHEMA_COMPATIBILITY,
    version: VERSION,
    converter: config.VALUE_CONVERTER,
    // The live source's rule for records too large for their topic: a clear RECORD_TOO_LARGE, or a dead letter.
    oversize: oversizePolicyOf(config, () => undefined),
    epoch: stored?.position.epoch ?? 0,
  });
  // The live source's keys and zero-date rule, so the replayed changes land on the same documents.
  const transform = sourceTransform(config);
  const rules = schemaRules(config);
  const conn = await mysql.createConnection({ ...mysqlConnection(config), connectTimeout: 10_000 });
  await loadSchemaRules(rules, conn).finally(() => conn.end());
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  const until = new SourcePosition(plan.until.file, plan.until.pos);
  const queue = new StreamQueue(
    REPLAY_QUEUE_BYTES,
    () => reader.pause('replay'),
    () => reader.resume('replay'),
  );
  const reader = new BinlogReader(mysqlConnection(config), replayServerId(config), (db, t) => db === database && t === name, rules, queue, { keysFromInformationSchema: rowMetadata !== 'FULL' });
  const result: ReplayResult = { ...plan, records: 0, changes: { c: 0, u: 0, d: 0 } };
  let failure: unknown;
  let reached = false;
  reader.on('progress', (position) => {
    if (!until.isAfter(position)) reached = true;
  });
  reader.on('error', (error) => {
    failure = error;
    queue.wake();
  });
  try {
    await producer.connect();
    await reader.start(new SourcePosition(plan.from.file, plan.from.pos));
    // Changes are written in binlog order, a bounded batch at a time; the reader waits while the queue is full.
    let done = false;
    while (!done && (!reached || queue.length > 0)) {
      await queue.wait(1000);
      if (failure) throw failure;
      const records: EncodedRecord[] = [];
      for (const item of queue.take(REPLAY_BATCH_ITEMS, REPLAY_QUEUE_BYTES)) {
        if (isBoundary(item)) {
          // A transaction that starts at the end the replay was planned to ends after it: not replayed.
          done = item.kind === 'begin' ? !until.isAfter(item.start) : !until.isAfter(item.end);
          if (done) break;
          continue;
        }
        // The live source's selection, masking and transforms: a replay never writes more than it would.
        const shaped = transform(item);
        if (!shaped) continue;
        if (!encoder.isPrepared(shaped)) await encoder.prepare(shaped);
        encoder.encodeChange(shaped, config.TOMBSTONES_ON_DELETE, (record) => records.push(record));
        result.changes[item.op as 'c' | 'u' | 'd'] += 1;
      }
      // Each record's own topic: a route transform may send the table elsewhere.
      const topics = [...new Set(records.map((r) => r.topic))];
      const messages = topics.map((topic) => ({
        topic,
        messages: records.filter((r) => r.topic === topic).map((r) => ({ key: r.key, value: r.value, headers: (r as Partial<DeadLetterRecord>).headers })),
      }));
      for (const topicMessages of slices(messages, sendSliceBytes(config.TOPIC_MAX_MESSAGE_BYTES))) await producer.sendBatch({ topicMessages, acks: -1 });
      result.records += records.length;
    }
  } catch (error) {
    throw error instanceof CdcError ? error : kafkaError(error, 'replaying');
  } finally {
    await reader.stop();
    await producer.disconnect().catch(() => undefined);
  }
  return result;
}
