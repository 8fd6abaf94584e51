import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, dumpAll, runWorkload } from '../helpers/demo-tables.ts';
import { offsetsTopic } from '../../src/core/topics.ts';
import { encodeOffset, readStoredOffset } from '../../src/core/source-offsets.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, type ChangeSource, metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { runCli, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * RESET MASTER under a running pipeline: the server starts a new binlog.000001 and its file
 * positions (the versions' lower bits) start again. Once, the new binlog is made to look like the
 * old one by name, length and GTID sequence numbers, so only what lies at the stored offset tells
 * them apart; once, the old binlog was further along (binlog.000003), so the new binlog's versions
 * fall below the indexed documents'. Either way the source must re-snapshot in a new binlog epoch
 * whose versions outrank every indexed document: then every later change reaches Elasticsearch
 * instead of being refused as stale (409), and a replay of the old epoch's records is still refused.
 * After a failover (another server_id, the same GTIDs) the source resumes by GTID in a new epoch.
 */
describe('a binlog reset under a running pipeline', () => {
  const conns: mysql.Connection[] = [];
  const pipelines: Pipeline[] = [];

  after(async () => {
    for (const pipeline of pipelines) await pipeline.stopAll();
    for (const conn of conns) await conn.end();
  });

  /**
   * Pipeline running and equal to MariaDB, then the source stopped, the binlog reset and rows
   * changed. `sameName`: the stored position is in binlog.000001 and the new binlog.000001 grows
   * past it (the case a name check cannot see); otherwise the stored position is in binlog.000003
   * and the new binlog's versions would fall below the indexed ones (the case 409s would hide).
   */
  async function resetUnderPipeline(name: string, sourceEnv: Record<string, string>, sameName: boolean, ddl = DDL): Promise<{ pipeline: Pipeline; conn: mysql.Connection }> {
    const pipeline = new Pipeline(uniqueName(name));
    pipelines.push(pipeline);
    const conn = await pipeline.createDatabase(ddl);
    conns.push(conn);
    await conn.query('RESET MASTER');
    if (!sameName) await conn.query('FLUSH BINARY LOGS; FLUSH BINARY LOGS');
    const checks = demoChecks((t) => pipeline.indexOf(t));
    await pipeline.startSource(sourceEnv);
    await pipeline.startSink();
    await runWorkload(conn, 1, 40);
    await waitUntilEqual(conn, checks);
    assert.equal(await pipeline.source!.stop('SIGTERM'), 0);
    const [before] = await rows(conn, 'SELECT @@gtid_binlog_pos AS gtids');
    const [status] = await rows(conn, 'SHOW MASTER STATUS');
    const storedPos = Number(status!.Position);
    const storedSeq = Number(/(\d+)$/.exec(String(before!.gtids))![1]);

    await conn.query('RESET MASTER');
    // Changes while the source is down: only the re-snapshot can bring them (the old binlog is gone).
    await conn.query("UPDATE customers SET name = 'renamed while down' WHERE id BETWEEN 20 AND 25");
    await conn.query(
      "INSERT INTO customers (id, name, balance, big, born, updated, seen, tier, notes, qty) VALUES (900, 'inserted while down', 1.5, 7, '2024-01-01', '2024-01-01 00:00:00', NULL, 'free', NULL, 3)",
    );
    // Grow the new binlog.000001 past the stored offset and its GTIDs past the stored sequence number.
    for (let i = 0; sameName; i++) {
      const [now] = await rows(conn, 'SHOW MASTER STATUS');
      const [gtids] = await rows(conn, 'SELECT @@gtid_binlog_pos AS gtids');
      if (String(now!.File) === 'binlog.000001' && Number(now!.Position) > storedPos && Number(/(\d+)$/.exec(String(gtids!.gtids))![1]) > storedSeq) break;
      assert.ok(i < 10_000, 'the new binlog grew past the stored position');
      await conn.query('UPDATE customers SET qty = qty + 1 WHERE id = 900');
    }
    return { pipeline, conn };
  }

  /** Updates and deletes after the restart, then MariaDB and Elasticsearch row by row, and the versions of the new epoch. */
  async function changesReachTheIndex(pipeline: Pipeline, conn: mysql.Connection): Promise<void> {
    const checks = demoChecks((t) => pipeline.indexOf(t));
    await conn.query("UPDATE customers SET name = 'after the reset', qty = qty + 100 WHERE id BETWEEN 1 AND 12");
    await conn.query('DELETE FROM customers WHERE id IN (2, 4, 8, 900)');
    await conn.query('DELETE FROM order_lines WHERE order_id = 3');
    await conn.query(
      "INSERT INTO customers (id, name, balance, big, born, updated, seen, tier, notes, qty) VALUES (901, 'inserted after', 2.5, 8, '2024-01-02', '2024-01-02 00:00:00', NULL, 'pro', NULL, 4)",
    );
    await waitUntilEqual(conn, checks);
    const records = await readTopic(pipeline.topicOf('customers'));
    const epochs = new Set(records.filter((r) => r.decodedValue).map((r) => (r.decodedValue!.source as ChangeSource).epoch));
    assert.deepEqual([...epochs].sort(), [0, 1], 'records of the old binlog are of epoch 0, everything after the reset of epoch 1');
    const last = records.filter((r) => r.decodedValue).at(-1)!.decodedValue!;
    assert.equal((last.source as ChangeSource).epoch, 1);
    // Every document at its row's highest version: the new epoch's, never the old one's.
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), pipeline.indexOf('customers'), (k) => String(k.id), 'highest');
  }

  /** The source said why: the stored offset of binlog.000001 lies in other transactions now. */
  function assertResetDetected(pipeline: Pipeline): void {
    const lost = pipeline.source!.lines.find((l) => /binlog was reset/.test(String(l.binlog ?? '')));
    assert.ok(lost, 'the source logged the binlog reset');
    assert.equal(lost.epoch, 1);
  }

  it('ON_POSITION_LOST=resnapshot: re-snapshots incrementally in a new epoch, and every later change reaches Elasticsearch', async () => {
    const signalDdl = `${DDL}\nCREATE TABLE cdc_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT)`;
    const { pipeline, conn } = await resetUnderPipeline('cdc_reset_inc', {}, true, signalDdl);
    const { MYSQL_USER } = stackEnv();
    for (const host of ['127.0.0.1', 'localhost']) await conn.query(`GRANT INSERT, DELETE ON \`${pipeline.database}\`.cdc_signal TO '${MYSQL_USER}'@'${host}'`);
    const check = await runCli(['check-source'], pipeline.sourceCommandEnv());
    assert.equal(check.status, 2, check.stdout);
    assert.match(check.stderr, /SOURCE_POSITION_PURGED: .*binlog\.000001.*the binlog was reset/);
    const source = await pipeline.startSource({ ON_POSITION_LOST: 'resnapshot', SIGNAL_TABLE: `${pipeline.database}.cdc_signal` });
    assertResetDetected(pipeline);
    await waitFor('the re-snapshot to complete', () => source.lines.some((l) => l.msg === 'incremental snapshot complete'), 180_000, 200);
    await changesReachTheIndex(pipeline, conn);

    // A replay of the whole topic, old epoch first, by a new consumer group: every record is
    // refused as stale (the index holds the new epoch's versions) and no document changes.
    const checks = demoChecks((t) => pipeline.indexOf(t));
    const before = await dumpAll(checks);
    const staleBefore = await metricValue(pipeline.sink!, 'cdc_sink_bulk_items_total', 'outcome="stale"');
    assert.equal(await pipeline.sink!.stop('SIGTERM'), 0);
    const replay = await pipeline.startSink({ SINK_GROUP_ID: uniqueName('replay_old_epoch') });
    const total = (await readTopic(pipeline.topicOf('customers'))).length;
    await waitFor(
      'the replaying sink to read the whole customers topic',
      async () => (await metricValue(replay, 'cdc_sink_records_total', `topic="${pipeline.topicOf('customers')}"`)) === total,
      120_000,
    );
    assert.ok((await metricValue(replay, 'cdc_sink_bulk_items_total', 'outcome="stale"')) > staleBefore, 'the old epoch was refused as stale');
    assert.deepEqual(await dumpAll(checks), before, 'the replay changed no document and no version');
    await waitUntilEqual(conn, checks);
  });

  it('SNAPSHOT_MODE=when_needed: takes a new snapshot in a new epoch, and every later change reaches Elasticsearch', async () => {
    const { pipeline, conn } = await resetUnderPipeline('cdc_reset_snap', { SNAPSHOT_MODE: 'when_needed' }, false);
    const source = await pipeline.startSource({ SNAPSHOT_MODE: 'when_needed' });
    assertResetDetected(pipeline);
    await waitFor('the new snapshot to complete', () => source.lines.some((l) => /snapshot complete/.test(String(l.msg))), 180_000, 200);
    await changesReachTheIndex(pipeline, conn);
  });

  it('another server with the stored GTIDs (failover): resumes by GTID in a new epoch, and every later change reaches Elasticsearch', async () => {
    const pipeline = new Pipeline(uniqueName('cdc_failover'));
    pipelines.push(pipeline);
    const conn = await pipeline.createDatabase(DDL);
    conns.push(conn);
    const checks = demoChecks((t) => pipeline.indexOf(t));
    await pipeline.startSource();
    await pipeline.startSink();
    await runWorkload(conn, 1, 30);
    await waitUntilEqual(conn, checks);
    assert.equal(await pipeline.source!.stop('SIGTERM'), 0);
    // The stack has one server: the stored record is rewritten as if its position had been read from
    // another server of the topology (same GTIDs, another server_id), as after a failover.
    const kafka = testKafka();
    const topic = offsetsTopic(pipeline.prefix);
    const stored = (await readStoredOffset(kafka, topic, pipeline.sourceId))!;
    assert.ok(stored.position.gtids && stored.server, 'the stored offset has GTIDs and the server identity');
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ key: pipeline.sourceId, value: encodeOffset(stored.position, {}, { serverId: stored.server.serverId + 1000 }) }] });
    await producer.disconnect();

    await conn.query("UPDATE customers SET name = 'written after the failover' WHERE id BETWEEN 1 AND 6");
    const source = await pipeline.startSource();
    assert.ok(
      source.lines.some((l) => /resuming from the stored GTIDs in a new binlog epoch/.test(String(l.msg)) && l.epoch === 1),
      'the source resumed by GTID in epoch 1',
    );
    await changesReachTheIndex(pipeline, conn);
    const ops = new Set((await readTopic(pipeline.topicOf('customers'))).map((r) => r.decodedValue?.op));
    assert.ok(!ops.has('r'), 'nothing was re-snapshotted: the GTIDs were resumed from');
  });
});
