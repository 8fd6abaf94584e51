import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { readTopic } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { startService, uniqueName, waitReady, type ServiceProcess } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Two sinks in one consumer group share the partitions of 3-partition topics; one is killed with
 * SIGKILL mid-load, the other takes its partitions over after the session timeout and the index
 * still ends equal to the table, each document at its row's last change.
 */
describe('scale-out: two sinks in one group, one SIGKILLed mid-load', () => {
  const pipeline = new Pipeline(uniqueName('cdc_scale'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  const sinks: ServiceProcess[] = [];
  let conn: mysql.Connection;

  const processed = async (sink: ServiceProcess) =>
    (await Promise.all(['customers', 'order_lines'].map((t) => metricValue(sink, 'cdc_sink_records_total', `topic="${pipeline.topicOf(t)}"`)))).reduce((a, b) => a + b, 0);

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query(DDL);
    await pipeline.startSource({ TOPIC_PARTITIONS: '3' });
    // Both topics exist before the sinks join, so the first assignment already spreads them.
    await runWorkload(conn, 1, 3);
    await waitFor('both change topics', async () => (await readTopic(pipeline.topicOf('order_lines'))).length > 0);
    for (let i = 0; i < 2; i++) sinks.push(startService('sink', pipeline.sinkEnv({ SINK_SESSION_TIMEOUT_MS: '8000' })));
    await Promise.all(sinks.map((s) => waitReady(s)));
  });

  after(async () => {
    await Promise.all([pipeline.stopAll(), ...sinks.map((s) => s.stop('SIGKILL'))]);
    await conn?.end();
  });

  it('shares the partitions, survives the kill of one sink and ends equal row by row', async () => {
    let loading = true;
    const workload = runWorkload(conn, 10, 1500).finally(() => (loading = false));
    await waitFor('both sinks to index part of the load', async () => (await processed(sinks[0]!)) > 50 && (await processed(sinks[1]!)) > 50, 120_000, 200);
    assert.ok(loading, 'the kill lands while the workload is still writing');
    assert.equal(await sinks[0]!.stop('SIGKILL'), null, 'the first sink was killed');
    const survivorBefore = await processed(sinks[1]!);
    await workload;
    await waitUntilEqual(conn, checks, 180_000);
    assert.ok((await processed(sinks[1]!)) > survivorBefore, 'the surviving sink took over the load');
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), pipeline.indexOf('customers'), (k) => String(k.id));
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('order_lines'), pipeline.indexOf('order_lines'), (k) => JSON.stringify([String(k.order_id), String(k.line_no)]));
  });
});
