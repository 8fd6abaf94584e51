import assert from 'node:assert/strict';
import type mysql from 'mysql2/promise';
import { dumpIndex } from './elasticsearch.ts';
import { readTopic } from './kafka.ts';
import { differences, type TableCheck } from './demo-tables.ts';
import { freshDatabase, rootConnection, rows } from './mysql.ts';
import { startService, uniqueName, waitReady, type ServiceProcess } from './services.ts';
import { stackEnv } from './stack.ts';
import { waitFor } from './wait.ts';

/** One source and sink pair on its own database, topic prefix and consumer group. */
export class Pipeline {
  readonly database: string;
  readonly prefix: string;
  readonly sourceId: string;
  readonly group: string;
  source: ServiceProcess | undefined;
  sink: ServiceProcess | undefined;

  constructor(database: string) {
    this.database = database;
    this.prefix = uniqueName('t').toLowerCase();
    this.sourceId = uniqueName('src');
    this.group = uniqueName('grp');
  }

  /** A fresh database for this pipeline with `ddl` applied; the returned root connection uses it. */
  async createDatabase(ddl: string): Promise<mysql.Connection> {
    await freshDatabase(this.database);
    const conn = await rootConnection(this.database);
    await conn.query(ddl);
    return conn;
  }

  indexOf(table: string): string {
    return `${this.prefix}_${this.database}_${table}`.toLowerCase();
  }

  topicOf(table: string): string {
    return `${this.prefix}.${this.database}.${table}`;
  }

  sourceEnv(extra: Record<string, string> = {}): Record<string, string> {
    return { SOURCE_ID: this.sourceId, TOPIC_PREFIX: this.prefix, DATABASE_INCLUDE: this.database, START_POSITION: 'latest', SNAPSHOT_MODE: 'never', ...extra };
  }

  /** The environment of a one-shot command run with the source's configuration (check-source, replay). */
  sourceCommandEnv(extra: Record<string, string> = {}): Record<string, string> {
    const stack = stackEnv();
    return {
      MYSQL_HOST: stack.MYSQL_HOST,
      MYSQL_PORT: stack.MYSQL_PORT,
      MYSQL_USER: stack.MYSQL_USER,
      MYSQL_PASSWORD: stack.MYSQL_PASSWORD,
      KAFKA_BROKERS: stack.KAFKA_BROKERS,
      SCHEMA_REGISTRY_URL: stack.SCHEMA_REGISTRY_URL,
      ...this.sourceEnv(extra),
    };
  }

  sinkEnv(extra: Record<string, string> = {}): Record<string, string> {
    return { TOPIC_PREFIX: this.prefix, SINK_GROUP_ID: this.group, INDEX_NAME_TEMPLATE: '{prefix}_{database}_{table}', TOPIC_REFRESH_MS: '1000', ...extra };
  }

  async startSource(extra?: Record<string, string>): Promise<ServiceProcess> {
    this.source = startService('source', this.sourceEnv(extra));
    await waitReady(this.source);
    return this.source;
  }

  async startSink(extra?: Record<string, string>): Promise<ServiceProcess> {
    this.sink = startService('sink', this.sinkEnv(extra));
    await waitReady(this.sink);
    return this.sink;
  }

  async stopAll(): Promise<void> {
    await Promise.all([this.source?.stop('SIGKILL'), this.sink?.stop('SIGKILL')]);
  }
}

/** Reads one counter of a service's Prometheus metrics (0 when absent). */
export async function metricValue(service: ServiceProcess, name: string, labels: string): Promise<number> {
  const body = (await service.http('/metrics')).body;
  const line = body.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** Waits until a sink has processed exactly the given number of records of each topic. */
export async function waitProcessed(sink: ServiceProcess, counts: Map<string, number>, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    `the sink to process ${[...counts].map(([t, n]) => `${n} records of ${t}`).join(', ')}`,
    async () => {
      for (const [topic, count] of counts) if ((await metricValue(sink, 'cdc_sink_records_total', `topic="${topic}"`)) !== count) return false;
      return true;
    },
    timeoutMs,
    500,
  );
}

/** Waits until every table equals its index row by row. */
export async function waitUntilEqual(conn: mysql.Connection, checks: TableCheck[], timeoutMs = 120_000): Promise<void> {
  await waitFor(
    'Elasticsearch to equal MariaDB row by row',
    async () => {
      const problems = (await Promise.all(checks.map((c) => differences(conn, c)))).flat();
      if (problems.length > 0) throw new Error(`${problems.length} differences, first: ${problems.slice(0, 3).join('; ')}`);
      return true;
    },
    timeoutMs,
    1000,
  );
}

/** The source block of a change record: where in the binlog the change was read. */
export type ChangeSource = { file: string; pos: bigint | number; row: number; epoch?: number };

/** The external version a change must give its document, computed here from its source block: epoch × 2^55 + fileIndex × 2^32 + pos + row. */
export function changeVersion(source: ChangeSource): bigint {
  return BigInt(source.epoch ?? 0) * 2n ** 55n + BigInt(/\.(\d+)$/.exec(source.file)![1]!) * 2n ** 32n + BigInt(source.pos) + BigInt(source.row);
}

/**
 * Each document's `_version` must be the version of its row's last (or highest) change in the topic, computed
 * here from the record's source block (changeVersion), and each (file, pos) must be
 * where a rows event really starts in the server's binlog.
 */
export async function assertVersionsMatchLastChange(
  conn: mysql.Connection,
  topic: string,
  index: string,
  idOf: (key: Record<string, unknown>) => string,
  /** 'highest': after a resumed snapshot a row's snapshot record can outrank changes written after it. */
  pick: 'last' | 'highest' = 'last',
): Promise<number> {
  // Generous: a loaded machine reads a large topic slowly.
  const records = await readTopic(topic, 120_000);
  const last = new Map<string, { version: bigint; file: string; pos: bigint; op: string; epoch: number }>();
  let epoch = 0;
  for (const r of records) {
    if (!r.decodedKey || !r.decodedValue) continue;
    const source = r.decodedValue.source as ChangeSource;
    const version = changeVersion(source);
    const id = idOf(r.decodedKey);
    epoch = Math.max(epoch, source.epoch ?? 0);
    if (pick === 'last' || version > (last.get(id)?.version ?? -1n)) last.set(id, { version, file: source.file, pos: BigInt(source.pos), op: String(r.decodedValue.op), epoch: source.epoch ?? 0 });
  }
  const docs = await dumpIndex(index);
  for (const [id, doc] of docs) {
    const expected = last.get(id);
    assert.ok(expected, `document ${id} of ${index} has no change in ${topic}`);
    assert.equal(doc.version, expected.version, `document ${id}: _version ${doc.version} but its last change has version ${expected.version}`);
  }
  const checked = new Set<string>();
  for (const { file, pos, op, epoch: changeEpoch } of last.values()) {
    const key = `${file}:${pos}`;
    // A snapshot row's position is its read view's, the boundary between two transactions; an older epoch's binlog is gone.
    if (op === 'r' || changeEpoch < epoch || checked.has(key) || checked.size >= 50) continue;
    checked.add(key);
    const [event] = await rows(conn, `SHOW BINLOG EVENTS IN '${file}' FROM ${pos} LIMIT 1`);
    assert.match(String(event?.Event_type), /_rows/i, `no rows event starts at ${key}: ${JSON.stringify(event)}`);
  }
  return docs.size;
}
