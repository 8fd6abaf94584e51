import { offsetsTopic } from '../core/topics.ts';
import mysql from 'mysql2/promise';
import type { Logger } from '../core/logger.ts';
import { createKafka, kafkaSettings } from '../core/kafka.ts';
import { checkKafkaTls } from '../core/kafka-tls-check.ts';
import { probeServerId, replicaServerId, type SourceConfig } from '../config/source.ts';
import { binlogStartTime } from './binlog-start-time.ts';
import { readStoredOffset } from '../core/source-offsets.ts';
import { mysqlConnection } from './mysql-connection.ts';
import { checkSource, type ServerFacts } from './preconditions.ts';
import { checkRetention, type RetentionReport } from './retention.ts';
import { historyChange, readHistoryFacts } from './binlog-history.ts';
import { positionGone } from './start-plan.ts';

export interface SourceCheck extends ServerFacts {
  storedPosition: unknown;
  /** Why the server's binlog is another one than the stored position's, when the source would resume by GTID on it in a new epoch. */
  otherServer: string | null;
  retention: RetentionReport | null;
}

/**
 * `cdc check-source`: the server's settings, and — when this SOURCE_ID has a stored position in
 * Kafka — whether the server still has it. Throws the same coded errors the source would.
 */
export async function runSourceCheck(config: SourceConfig, log: Logger): Promise<SourceCheck> {
  const connection = mysqlConnection(config);
  const facts = await checkSource(connection, replicaServerId(config));
  await checkKafkaTls(kafkaSettings(config));
  const kafka = createKafka(kafkaSettings(config), log);
  const stored = await readStoredOffset(kafka, offsetsTopic(config.TOPIC_PREFIX), config.SOURCE_ID, 30_000);
  if (!stored) return { ...facts, storedPosition: null, otherServer: null, retention: null };
  const conn = await mysql.createConnection({ ...connection, connectTimeout: 10_000 });
  try {
    const history = historyChange(stored, await readHistoryFacts(conn, facts.connector, stored.position));
    if (history?.kind === 'reset') throw positionGone(stored.position, history);
    if (history) return { ...facts, storedPosition: stored.position.toJSON(), otherServer: history.reason, retention: null };
    return {
      ...facts,
      storedPosition: stored.position.toJSON(),
      otherServer: null,
      retention: await checkRetention(conn, stored.position, {
        positionTimeMs: stored.ts,
        startTimeOf: (file) => binlogStartTime(connection, file, probeServerId(config)),
      }),
    };
  } finally {
    await conn.end().catch(() => undefined);
  }
}
