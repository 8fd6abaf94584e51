/**
 * The figure of issue 19: rows per second through Kafka Connect's JDBC sink (Debezium 3.4.0.Final,
 * into PostgreSQL) when it is fed by our source and when it is fed by Debezium's MariaDB source,
 * the same table one after the other, both as JsonConverter records. Run once by hand (not part
 * of `make test`), with the stack up:
 *
 *   ./node_modules/.bin/node test/figures/connect-sink.ts [rows]
 *
 * Each source first writes the whole table into its topic (our snapshot; Debezium's initial
 * snapshot); then a fresh Connect worker with the JDBC sink starts on that topic, and the rate is
 * rows ÷ (first PostgreSQL count equal to rows − the connector's RUNNING state). Two passes per
 * feed, each into a fresh PostgreSQL database, so the JVM's cold start shows.
 */
import type { Admin } from 'kafkajs';
import { freshPgDatabase, installConnect, jdbcSinkConnector, pgRows, startConnect } from '../helpers/connect.ts';
import { testKafka } from '../helpers/kafka.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const ROWS = Number(process.argv[2] ?? 100_000);
const DATABASE = 'figure_connect';
const TABLE = 'rows6';

async function topicEnd(admin: Admin, topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic).catch(() => []);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

/** Waits until the topic holds at least `rows` records and its end stopped moving (transaction markers count too). */
async function topicFilled(admin: Admin, topic: string): Promise<void> {
  let previous = -1;
  await waitFor(
    `${topic} to hold ${ROWS} records`,
    async () => {
      const end = await topicEnd(admin, topic);
      const done = end >= ROWS && end === previous;
      previous = end;
      return done || undefined;
    },
    600_000,
    2_000,
  );
}

async function sinkRate(home: string, topic: string, label: string, pass: number): Promise<number> {
  const pgDatabase = `figure_${label}_${pass}`;
  await freshPgDatabase(pgDatabase);
  const worker = await startConnect(home, 'json', jdbcSinkConnector(`figure-${label}-${pass}`, topic, pgDatabase, TABLE));
  const started = performance.now();
  try {
    await waitFor(
      `${label}: ${ROWS} rows in PostgreSQL`,
      async () => {
        const [row] = await pgRows(pgDatabase, `SELECT count(*)::int AS n FROM ${TABLE}`).catch(() => [{ n: 0 }]);
        return (row?.n as number) >= ROWS || undefined;
      },
      600_000,
      200,
    );
  } finally {
    await worker.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  return ROWS / seconds;
}

async function main(): Promise<void> {
  const home = installConnect(true);
  const pipeline = new Pipeline(DATABASE);
  const conn = await pipeline.createDatabase(`CREATE TABLE ${TABLE} (id BIGINT PRIMARY KEY, a INT, b VARCHAR(64), c DECIMAL(12,2), d DATETIME(6), e DOUBLE)`);
  for (let start = 0; start < ROWS; start += 1000) {
    const values = Array.from({ length: Math.min(1000, ROWS - start) }, (_, i) => {
      const id = start + i + 1;
      return `(${id}, ${id % 1000}, 'row ${id} of the figure', ${(id % 100000) / 100}, '2024-01-01 00:00:00.${String(id % 1_000_000).padStart(6, '0')}', ${id / 7})`;
    });
    await conn.query(`INSERT INTO ${TABLE} VALUES ${values.join(',')}`);
  }
  await conn.end();
  const admin = testKafka().admin();
  await admin.connect();
  const results: Array<[string, number, number]> = [];
  try {
    // Our source: its snapshot writes the table into <prefix>.figure_connect.rows6.
    await pipeline.startSource({ VALUE_CONVERTER: 'json', SCHEMA_REGISTRY_URL: '', SNAPSHOT_MODE: 'initial' });
    await topicFilled(admin, pipeline.topicOf(TABLE));
    await pipeline.stopAll();
    // Debezium's MariaDB source, on its own Connect worker: its initial snapshot writes dbz<…>.figure_connect.rows6.
    const stack = stackEnv();
    const prefix = `dbz${Date.now()}`;
    const debezium = await startConnect(
      home,
      'json',
      {
        name: 'figure-debezium-source',
        'connector.class': 'io.debezium.connector.mariadb.MariaDbConnector',
        'database.hostname': stack.MYSQL_HOST,
        'database.port': stack.MYSQL_PORT,
        'database.user': 'root',
        'database.password': stack.MYSQL_ROOT_PASSWORD,
        'database.server.id': String(5000 + Math.floor(Math.random() * 10000)),
        'topic.prefix': prefix,
        'database.include.list': DATABASE,
        'table.include.list': `${DATABASE}.${TABLE}`,
        // Other suites' tables on this server hold types Debezium's DDL parser refuses.
        'schema.history.internal.store.only.captured.tables.ddl': 'true',
        'schema.history.internal.store.only.captured.databases.ddl': 'true',
        'snapshot.mode': 'initial',
        'schema.history.internal.kafka.bootstrap.servers': stack.KAFKA_BROKERS,
        'schema.history.internal.kafka.topic': `${prefix}.history`,
        // The stack's Kafka creates no topics by itself.
        'topic.creation.default.replication.factor': '1',
        'topic.creation.default.partitions': '1',
      },
      ['source-plugins'],
    );
    await topicFilled(admin, `${prefix}.${DATABASE}.${TABLE}`);
    await debezium.stop();

    for (const pass of [1, 2]) {
      results.push(['cdc-es source', pass, await sinkRate(home, pipeline.topicOf(TABLE), 'ours', pass)]);
      results.push(['Debezium 3.4.0.Final source', pass, await sinkRate(home, `${prefix}.${DATABASE}.${TABLE}`, 'debezium', pass)]);
    }
  } finally {
    await admin.disconnect();
    await pipeline.stopAll();
  }
  console.log(`\nJDBC sink (Debezium 3.4.0.Final) → PostgreSQL, ${ROWS} rows, JsonConverter, one task, Connect heap 512 MiB:`);
  console.log('| fed by | pass | rows/s |\n|---|---|---|');
  for (const [feed, pass, rate] of results) console.log(`| ${feed} | ${pass} | ${Math.round(rate)} |`);
}

await main();
