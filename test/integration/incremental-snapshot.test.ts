import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import type { TableCheck } from '../helpers/demo-tables.ts';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { rootConnection, rows } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { ROW_WRITER_TABLE, RowWriter, rowWriterCheck } from '../helpers/row-writer.ts';
import { runCli, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const ROWS = 30_000;
const CHUNK = 500;

/**
 * Incremental snapshots (DBLog watermarks in a signal table): a table added to the include list
 * after the source has been streaming is snapshotted on request while a writer keeps changing it
 * and while the source is SIGKILLed once mid-way; Elasticsearch ends equal to MariaDB row by row,
 * each document at the highest version of its row's records. Tables without a primary key are
 * keyed by KEY_COLUMNS or a unique NOT NULL index; a table with no key at all is mirrored as its
 * set of distinct rows (the sink's row_hash ids).
 */
describe('incremental snapshot: a table added later, under concurrent writes', () => {
  const pipeline = new Pipeline(uniqueName('cdc_incr'));
  const db = pipeline.database;
  let conn: mysql.Connection;
  let writerConn: mysql.Connection;
  const itemsCheck = rowWriterCheck('items', pipeline.indexOf('items'));
  const byCode: TableCheck = { table: 'by_code', index: pipeline.indexOf('by_code'), idOf: (r) => String(r.code), expected: (r) => ({ code: String(r.code), note: String(r.note) }) };
  const byUnique: TableCheck = { table: 'by_unique', index: pipeline.indexOf('by_unique'), idOf: (r) => String(r.sku), expected: (r) => ({ sku: String(r.sku), qty: String(r.qty) }) };
  const env = (include: string) => ({
    DATABASE_INCLUDE: db,
    TABLE_INCLUDE: include,
    SNAPSHOT_MODE: 'initial',
    SIGNAL_TABLE: `${db}.cdc_signal`,
    INCREMENTAL_CHUNK_ROWS: String(CHUNK),
    KEY_COLUMNS: `${db}.by_code:code`,
  });

  before(async () => {
    conn = await pipeline.createDatabase(`
      CREATE TABLE cdc_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT);
      CREATE TABLE items (${ROW_WRITER_TABLE});
      CREATE TABLE by_code (code VARCHAR(20) NOT NULL, note VARCHAR(40));
      CREATE TABLE by_unique (sku INT NOT NULL, qty INT, UNIQUE KEY sku (sku), KEY qty (qty));
      CREATE TABLE bag (colour VARCHAR(10), n INT);`);
    const { MYSQL_USER } = stackEnv();
    for (const host of ['127.0.0.1', 'localhost']) await conn.query(`GRANT INSERT, DELETE ON \`${db}\`.cdc_signal TO '${MYSQL_USER}'@'${host}'`);
    for (let from = 1; from <= ROWS; from += 10_000) {
      const values = Array.from({ length: 10_000 }, (_, i) => `(${from + i}, 0, 'item ${from + i}', '2024-01-01 00:00:00.000001')`);
      await conn.query(`INSERT INTO items VALUES ${values.join(',')}`);
    }
    await conn.query(`INSERT INTO by_code VALUES ${Array.from({ length: 1200 }, (_, i) => `('c-${i}', 'note ${i}')`).join(',')}`);
    await conn.query(`INSERT INTO by_unique VALUES ${Array.from({ length: 1200 }, (_, i) => `(${i}, ${i % 7})`).join(',')}`);
    await conn.query("INSERT INTO bag VALUES ('red', 1), ('red', 1), ('blue', 2), (NULL, 3)");
    writerConn = await rootConnection(db);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
    await writerConn?.end();
  });

  it('snapshots on request while streaming, resumes after a SIGKILL, and ends equal with no stale document', async () => {
    await pipeline.startSink();
    // At first only `bag` is captured: initial snapshot, then streaming.
    let source = await pipeline.startSource(env(`${db}\\.bag`));
    await waitFor('the initial snapshot of bag', () => source.lines.some((l) => l.msg === 'snapshot complete; streaming from its position'), 120_000, 200);
    await conn.query("UPDATE bag SET n = 4 WHERE colour = 'blue'");
    await conn.query("INSERT INTO bag VALUES ('green', 5)");
    await conn.query('DELETE FROM bag WHERE colour IS NULL');
    await source.stop();

    // The include list grows; the new tables' existing rows come from an incremental snapshot.
    const include = `${db}\\.(bag|items|by_code|by_unique)`;
    source = await pipeline.startSource(env(include));
    const writer = new RowWriter('items', ROWS);
    writer.start(writerConn, 1_000_000);
    const { MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD } = stackEnv();
    const request = await runCli(['snapshot', '--tables', `${db}.items,${db}.by_code,${db}.by_unique`], { MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, SIGNAL_TABLE: `${db}.cdc_signal` });
    assert.equal(request.status, 0, request.stderr);
    assert.deepEqual(JSON.parse(request.stdout).tables, [`${db}.items`, `${db}.by_code`, `${db}.by_unique`]);

    const threshold = Math.floor((0.2 + Math.random() * 0.4) * ROWS);
    await waitFor(`the incremental snapshot to pass ${threshold} rows`, async () => (await metricValue(source, 'cdc_source_snapshot_rows_total', `table="${db}.items"`)) >= threshold, 300_000, 50);
    await source.stop('SIGKILL');
    source = await pipeline.startSource(env(include));
    await waitFor('the incremental snapshot to complete', () => source.lines.some((l) => l.msg === 'incremental snapshot complete'), 300_000, 200);
    const resumed = source.lines.find((l) => l.msg === 'incremental snapshot resumed') as { current?: { table: string; rows: number } } | undefined;
    assert.ok(resumed?.current && resumed.current.rows > 0, `the restarted source resumed mid-table: ${JSON.stringify(resumed)}`);
    await new Promise((r) => setTimeout(r, 1000));
    await writer.stop();
    console.log(`writer during the incremental snapshot: ${writer.summary()}`);

    await waitUntilEqual(conn, [itemsCheck, byCode, byUnique], 300_000);
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('items'), itemsCheck.index, (k) => String(k.id), 'highest');

    // Committed chunks were not read again after the kill, and most rows came from the snapshot.
    const records = await readTopic(pipeline.topicOf('items'), 120_000);
    const snapshotted = new Map<string, number>();
    for (const r of records) {
      if (r.decodedValue?.op !== 'r') continue;
      assert.equal((r.decodedValue.source as { snapshot: string }).snapshot, 'incremental');
      snapshotted.set(String(r.decodedKey!.id), (snapshotted.get(String(r.decodedKey!.id)) ?? 0) + 1);
    }
    const twice = [...snapshotted].filter(([, n]) => n > 1);
    assert.deepEqual(twice.slice(0, 5), [], `${twice.length} rows have two snapshot records`);
    assert.ok(snapshotted.size > ROWS * 0.5, `most rows came from the snapshot (${snapshotted.size})`);
    // The signal table's rows never reach Kafka.
    const admin = testKafka().admin();
    await admin.connect();
    const topics = await admin.listTopics().finally(() => admin.disconnect());
    assert.ok(!topics.includes(pipeline.topicOf('cdc_signal')), 'no topic for the signal table');

    // No key at all: the index holds the table's distinct rows.
    const docs = [...(await dumpIndex(pipeline.indexOf('bag'))).values()].map((d) => JSON.stringify([d.source.colour ?? null, String(d.source.n)])).sort();
    const distinct = (await rows(conn, 'SELECT DISTINCT colour, n FROM bag')).map((r) => JSON.stringify([r.colour ?? null, String(r.n)])).sort();
    assert.deepEqual(docs, distinct);
  });

  it('takes the initial snapshot incrementally with SNAPSHOT_METHOD=incremental (the MySQL 8 path) under concurrent writes', async () => {
    const initial = new Pipeline(uniqueName('cdc_incr_init'));
    const initialConn = await initial.createDatabase(`
      CREATE TABLE cdc_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT);
      CREATE TABLE items (${ROW_WRITER_TABLE});`);
    const { MYSQL_USER } = stackEnv();
    for (const host of ['127.0.0.1', 'localhost']) await initialConn.query(`GRANT INSERT, DELETE ON \`${initial.database}\`.cdc_signal TO '${MYSQL_USER}'@'${host}'`);
    await initialConn.query(`INSERT INTO items VALUES ${Array.from({ length: 5000 }, (_, i) => `(${i + 1}, 0, 'item ${i + 1}', '2024-01-01 00:00:00')`).join(',')}`);
    const writerConnection = await rootConnection(initial.database);
    const writer = new RowWriter('items', 5000);
    try {
      writer.start(writerConnection, 1_000_000);
      await initial.startSink();
      const source = await initial.startSource({ SNAPSHOT_MODE: 'initial', SNAPSHOT_METHOD: 'incremental', SIGNAL_TABLE: `${initial.database}.cdc_signal`, INCREMENTAL_CHUNK_ROWS: '400' });
      await waitFor('the incremental initial snapshot to complete', () => source.lines.some((l) => l.msg === 'incremental snapshot complete'), 300_000, 200);
      await writer.stop();
      const check = rowWriterCheck('items', initial.indexOf('items'));
      await waitUntilEqual(initialConn, [check], 300_000);
      await assertVersionsMatchLastChange(initialConn, initial.topicOf('items'), check.index, (k) => String(k.id), 'highest');
    } finally {
      await writer.stop();
      await initial.stopAll();
      await writerConnection.end();
      await initialConn.end();
    }
  });

  it('refuses a malformed or unknown table in `cdc snapshot`', async () => {
    const { MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD } = stackEnv();
    const cli = (tables: string) => runCli(['snapshot', '--tables', tables], { MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, SIGNAL_TABLE: `${db}.cdc_signal` });
    const malformed = await cli('items');
    assert.equal(malformed.status, 2);
    assert.match(malformed.stderr, /ARGUMENT_INVALID/);
    const unknown = await cli(`${db}.nope`);
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, new RegExp(`ARGUMENT_INVALID.*${db}\\.nope`));
  });
});
