import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, dumpAll, runWorkload } from '../helpers/demo-tables.ts';
import { deleteTopics, readTopic } from '../helpers/kafka.ts';
import { assertVersionsMatchLastChange, metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The failure that versions taken from Kafka offsets cannot survive: every topic is deleted, the
 * source re-runs from the earliest binlog into the recreated topics (offsets start again at 0)
 * while new changes arrive, and a sink consumes them into the existing indices. The re-produced
 * old changes must all be refused as stale, the new ones applied, and no document regress.
 */
describe('recreated topics and a source re-run from an earlier position', () => {
  const pipeline = new Pipeline(uniqueName('cdc_rerun'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource();
    await pipeline.startSink();
    await runWorkload(conn, 1, 60);
    await waitUntilEqual(conn, checks);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('refuses every re-produced old change, applies the new ones and regresses nothing', async () => {
    const before = await dumpAll(checks);
    assert.equal(await pipeline.source!.stop('SIGTERM'), 0);
    assert.equal(await pipeline.sink!.stop('SIGTERM'), 0);
    await deleteTopics(pipeline.prefix);

    await pipeline.startSource({ START_POSITION: 'earliest' });
    await conn.query('UPDATE customers SET qty = qty + 1000 WHERE id <= 10');
    await conn.query('DELETE FROM customers WHERE id BETWEEN 11 AND 13');
    const sink = await pipeline.startSink({ SINK_GROUP_ID: uniqueName('after_recreate') });
    await waitUntilEqual(conn, checks);
    // Caught up: the sink has seen every record the re-run wrote, old and new.
    const total = (await readTopic(pipeline.topicOf('customers'))).length;
    await waitFor('the sink to process the recreated customers topic', async () => (await metricValue(sink, 'cdc_sink_records_total', `topic="${pipeline.topicOf('customers')}"`)) === total);
    assert.ok((await metricValue(sink, 'cdc_sink_bulk_items_total', 'outcome="stale"')) > 0, 'the re-produced changes were refused as stale');

    const afterRerun = await dumpAll(checks);
    const customers = pipeline.indexOf('customers');
    for (const [id, doc] of before.get(customers)!) {
      const now = afterRerun.get(customers)!.get(id);
      const key = Number(id);
      if (key <= 13) continue;
      assert.deepEqual(now, doc, `untouched customer ${id} changed`);
    }
    for (let id = 1; id <= 10; id++) {
      const was = before.get(customers)!.get(String(id));
      const now = afterRerun.get(customers)!.get(String(id));
      if (was) assert.ok(now && now.version > was.version, `customer ${id}: the new change was applied with a higher version`);
    }
    assert.deepEqual(afterRerun.get(pipeline.indexOf('order_lines')), before.get(pipeline.indexOf('order_lines')), 'order lines unchanged');
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), customers, (k) => String(k.id));
  });
});
