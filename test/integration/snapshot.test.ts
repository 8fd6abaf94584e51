import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import type { TableCheck } from '../helpers/demo-tables.ts';
import { readTopic } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { ROW_WRITER_TABLE, RowWriter, rowWriterCheck } from '../helpers/row-writer.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const ROWS = 200_000;
const CHUNK = 2000;
const KILLS = 3;

/**
 * The initial snapshot of a 200,000-row table while a writer changes the same rows, with the
 * source SIGKILLed at random points during the snapshot: it resumes after the last committed
 * chunk (no committed row is read twice), hands over to streaming without a gap, and
 * Elasticsearch ends equal to MariaDB, each document at its row's last change.
 */
describe('initial snapshot: lock-free, chunked, resumable', () => {
  const pipeline = new Pipeline(uniqueName('cdc_snap'));
  const snapshotEnv = { SNAPSHOT_MODE: 'initial', SNAPSHOT_CHUNK_ROWS: String(CHUNK) };
  let conn: mysql.Connection;
  let writerConn: mysql.Connection;
  const items = rowWriterCheck('items', pipeline.indexOf('items'));
  const tags: TableCheck = {
    table: 'tags',
    index: pipeline.indexOf('tags'),
    idOf: (r) => JSON.stringify([String(r.item_id), String(r.tag)]),
    expected: (r) => ({ item_id: String(r.item_id), tag: String(r.tag), weight: String(r.weight) }),
  };

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    writerConn = await rootConnection(pipeline.database);
    await conn.query(`CREATE TABLE items (${ROW_WRITER_TABLE})`);
    await conn.query('CREATE TABLE tags (item_id INT NOT NULL, tag VARCHAR(20) NOT NULL, weight DECIMAL(6,2), PRIMARY KEY (item_id, tag))');
    await conn.query('CREATE TABLE audit_log (message VARCHAR(100))');
    for (let from = 1; from <= ROWS; from += 10_000) {
      const values = Array.from({ length: 10_000 }, (_, i) => `(${from + i}, 0, 'item ${from + i}', '2024-01-01 00:00:00.000001')`);
      await conn.query(`INSERT INTO items VALUES ${values.join(',')}`);
    }
    // Four chunks: the last one is read once the table's schema is registered, so its rows are encoded as they arrive.
    const tagRows = Array.from({ length: 7000 }, (_, i) => `(${1 + (i % 1000)}, 'tag-${Math.floor(i / 1000)}', ${i}.25)`);
    await conn.query(`INSERT INTO tags VALUES ${tagRows.join(',')}`);
    await conn.query("INSERT INTO audit_log VALUES ('a'), ('b'), ('c')");
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
    await writerConn?.end();
  });

  it('survives SIGKILLs mid-snapshot under concurrent writes and ends equal row by row', async () => {
    const baseline = new RowWriter('items', ROWS);
    baseline.start(writerConn, 10_000_000);
    await new Promise((r) => setTimeout(r, 2000));
    await baseline.stop();

    const writer = new RowWriter('items', ROWS);
    writer.start(writerConn, 20_000_000);
    await pipeline.startSink();
    const killedAt: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      const source = await pipeline.startSource(snapshotEnv);
      // A random point in this run's share of the snapshot (~40,000-row slices), never after its end.
      const threshold = Math.floor((0.2 + Math.random() * 0.6) * 40_000);
      await waitFor(
        `the snapshot to pass ${threshold} rows in this run`,
        async () => (await metricValue(source, 'cdc_source_snapshot_rows_total', `table="${pipeline.database}.items"`)) >= threshold,
        120_000,
        50,
      );
      assert.ok(!source.lines.some((l) => l.msg === 'snapshot complete; streaming from its position'), 'the kill lands during the snapshot');
      await source.stop('SIGKILL');
      killedAt.push(threshold);
    }
    await pipeline.startSource(snapshotEnv);
    await waitFor('the snapshot to complete', () => pipeline.source!.lines.some((l) => l.msg === 'snapshot complete; streaming from its position'), 300_000, 200);
    const resumed = pipeline.source!.lines.find((l) => l.msg === 'resuming snapshot');
    assert.ok(resumed, 'the last run resumed the snapshot rather than starting over');
    await new Promise((r) => setTimeout(r, 2000));
    await writer.stop();
    console.log(`writer without snapshot: ${baseline.summary()}; during snapshot: ${writer.summary()}`);

    await waitUntilEqual(conn, [items, tags], 300_000);
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('items'), items.index, (k) => String(k.id), 'highest');
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('tags'), tags.index, (k) => JSON.stringify([String(k.item_id), String(k.tag)]), 'highest');

    // Resumed, not restarted: no committed snapshot row was read (and written) twice.
    const records = await readTopic(pipeline.topicOf('items'), 120_000);
    const snapshotKeys = new Map<string, number>();
    for (const r of records) if (r.decodedValue?.op === 'r') snapshotKeys.set(String(r.decodedKey!.id), (snapshotKeys.get(String(r.decodedKey!.id)) ?? 0) + 1);
    const twice = [...snapshotKeys].filter(([, n]) => n > 1);
    assert.deepEqual(twice.slice(0, 5), [], `${twice.length} rows have two snapshot records`);
    assert.ok(snapshotKeys.size > ROWS * 0.8, `most rows came from the snapshot (${snapshotKeys.size})`);
    // Snapshot records and streamed records share one value schema.
    const ids = (op: string) => new Set(records.filter((r) => r.decodedValue?.op === op).map((r) => r.value!.readUInt32BE(1)));
    assert.deepEqual(ids('r'), ids('u'), 'one value schema id for snapshot and streamed changes');

    const keyless = await readTopic(pipeline.topicOf('audit_log'));
    assert.equal(keyless.filter((r) => r.decodedValue?.op === 'r').length, 3, 'a keyless table is snapshotted too (its events have no key)');

    // Tables go in name order, so the snapshot's last row is the largest key of `tags`, and its
    // record, marked `last`, is the last snapshot record of that topic; every other one is `true`.
    const tagRecords = (await readTopic(pipeline.topicOf('tags'))).filter((r) => r.decodedValue?.op === 'r');
    const marks = (list: typeof records) => list.map((r) => (r.decodedValue!.source as { snapshot: string }).snapshot);
    assert.deepEqual([...new Set([...marks(records.filter((r) => r.decodedValue?.op === 'r')), ...marks(keyless)])], ['true'], 'items and audit_log: every snapshot record is marked true');
    assert.deepEqual(
      marks(tagRecords)
        .map((mark, i) => (mark === 'last' ? i : -1))
        .filter((i) => i >= 0),
      [tagRecords.length - 1],
      'one record is marked last: the last of tags',
    );
    assert.deepEqual({ ...tagRecords.at(-1)!.decodedKey }, { item_id: 1000, tag: 'tag-6' });
  });
});
