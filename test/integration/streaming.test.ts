import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, dumpAll, runWorkload } from '../helpers/demo-tables.ts';
import { rootConnection, rows } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, metricValue, Pipeline, waitProcessed, waitUntilEqual } from '../helpers/pipeline.ts';
import { readTopic } from '../helpers/kafka.ts';
import { startService, uniqueName, waitReady } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

describe('streaming MariaDB → Kafka → Elasticsearch', () => {
  const pipeline = new Pipeline(uniqueName('cdc_stream'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource();
    await pipeline.startSink();
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('ends with every row equal in Elasticsearch and each _version equal to its last change', async () => {
    await runWorkload(conn, 1, 60);
    await waitUntilEqual(conn, checks);
    const customers = await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), pipeline.indexOf('customers'), (k) => String(k.id));
    const lines = await assertVersionsMatchLastChange(conn, pipeline.topicOf('order_lines'), pipeline.indexOf('order_lines'), (k) => JSON.stringify([String(k.order_id), String(k.line_no)]));
    assert.ok(customers > 40 && lines > 10, `expected documents in both indices, got ${customers} and ${lines}`);
  });

  it('stays equal when source and sink are stopped with SIGTERM mid-workload and restarted', async () => {
    let workloadDone = false;
    const workload = runWorkload(conn, 1000, 3000).then(() => {
      workloadDone = true;
    });
    const counter = await rootConnection(pipeline.database);
    await waitFor('the workload to be under way', async () => Number((await rows(counter, 'SELECT COUNT(*) AS n FROM customers WHERE id >= 1000'))[0]!.n) >= 200, 60_000, 20);
    await counter.end();
    const stoppedMidWorkload = !workloadDone;
    const stopping = Date.now();
    assert.equal(await pipeline.source!.stop('SIGTERM'), 0, 'source exits 0 on SIGTERM');
    assert.ok(Date.now() - stopping < 10_000, 'the source drains and exits within 10 s');
    assert.ok(stoppedMidWorkload, 'the source was stopped while the workload was still writing');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(await pipeline.sink!.stop('SIGTERM'), 0, 'sink exits 0 on SIGTERM');
    await pipeline.startSource();
    await new Promise((r) => setTimeout(r, 1000));
    await pipeline.startSink();
    await workload;
    await waitUntilEqual(conn, checks);
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), pipeline.indexOf('customers'), (k) => String(k.id));
  });

  it('changes no document and no version when a new group consumes the topics from the beginning', async () => {
    await waitUntilEqual(conn, checks);
    const before = await dumpAll(checks);
    const replay = startService('sink', pipeline.sinkEnv({ SINK_GROUP_ID: uniqueName('replay') }));
    try {
      await waitReady(replay);
      // The replaying sink has caught up when it has processed every record of both topics.
      const expected = new Map<string, number>();
      for (const table of ['customers', 'order_lines']) expected.set(pipeline.topicOf(table), (await readTopic(pipeline.topicOf(table))).length);
      await waitProcessed(replay, expected);
      const stale = await metricValue(replay, 'cdc_sink_bulk_items_total', 'outcome="stale"');
      assert.ok(stale > 0, 'the replayed changes were answered as stale (409)');
    } finally {
      await replay.stop('SIGTERM');
    }
    const afterReplay = await dumpAll(checks);
    for (const [index, docs] of before) {
      const again = afterReplay.get(index)!;
      assert.equal(again.size, docs.size, `${index}: document count changed`);
      for (const [id, doc] of docs) {
        assert.deepEqual(again.get(id), doc, `${index}/${id} changed after replay`);
      }
    }
  });
});
