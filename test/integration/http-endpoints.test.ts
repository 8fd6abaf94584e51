import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { parseMetrics } from '../helpers/prometheus.ts';
import { uniqueName } from '../helpers/services.ts';
import { stack, stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const STALL = '6';

/** /healthz, /readyz (with stall detection), /metrics (parsed by a Prometheus parser) and /status of both services. */
describe('HTTP endpoints of the source and the sink', () => {
  const pipeline = new Pipeline(uniqueName('cdc_http'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource({ READY_STALL_SECONDS: STALL });
    await pipeline.startSink({ READY_STALL_SECONDS: STALL });
    await runWorkload(conn, 1, 30);
    await waitUntilEqual(conn, checks);
  });
  after(async () => {
    stack('start', 'elasticsearch');
    await pipeline.stopAll();
    await conn?.end();
  });

  it('serve metrics that a Prometheus text-format parser accepts, with the documented families', async () => {
    const source = parseMetrics((await pipeline.source!.http('/metrics')).body);
    for (const name of [
      'cdc_source_events_total',
      'cdc_source_bytes_total',
      'cdc_source_lag_seconds',
      'cdc_source_kafka_commit_seconds',
      'cdc_source_kafka_transaction_records',
      'cdc_source_binlog_headroom_seconds',
      'cdc_source_binlog_silence_seconds',
      'cdc_source_paused',
      'process_resident_memory_bytes',
    ]) {
      assert.ok(source.has(name), `source metric ${name}`);
    }
    const events = source.get('cdc_source_events_total')!.metrics;
    assert.ok(
      events.some((m) => m.labels?.table === `${pipeline.database}.customers` && m.labels.op === 'c' && Number(m.value) === 30),
      JSON.stringify(events),
    );
    assert.ok(Number(source.get('cdc_source_bytes_total')!.metrics.find((m) => m.labels?.topic === pipeline.topicOf('customers'))?.value) > 0);

    const sink = parseMetrics((await pipeline.sink!.http('/metrics')).body);
    for (const name of [
      'cdc_sink_records_total',
      'cdc_sink_bytes_total',
      'cdc_sink_lag_records',
      'cdc_sink_lag_seconds',
      'cdc_sink_bulk_seconds',
      'cdc_sink_batch_records',
      'cdc_sink_bulk_items_total',
      'cdc_sink_elasticsearch_up',
      'nodejs_heap_size_used_bytes',
    ]) {
      assert.ok(sink.has(name), `sink metric ${name}`);
    }
    assert.equal(sink.get('cdc_sink_bulk_seconds')!.type, 'HISTOGRAM');
  });

  it('answer /healthz and /status (secrets redacted)', async () => {
    for (const service of [pipeline.source!, pipeline.sink!]) {
      assert.deepEqual(JSON.parse((await service.http('/healthz')).body), { status: 'ok' });
    }
    const status = await pipeline.source!.http('/status');
    assert.equal(status.status, 200);
    const body = JSON.parse(status.body) as { position: { file: string }; tables: Record<string, number>; config: Record<string, unknown> };
    assert.match(body.position.file, /\.\d+$/);
    assert.ok(body.tables[`${pipeline.database}.customers`]! > 0);
    assert.equal(body.config.MYSQL_PASSWORD, '[redacted]');
    assert.ok(!status.body.includes(stackEnv().MYSQL_PASSWORD), 'the password is not on /status');
  });

  it('keep the idle source ready past the stall bound (server heartbeats reach the reader)', async () => {
    const until = Date.now() + Number(STALL) * 2 * 1000;
    while (Date.now() < until) {
      const ready = await pipeline.source!.http('/readyz');
      assert.equal(ready.status, 200, ready.body);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });

  it('turn the sink unready while Elasticsearch is stopped, saying why, and ready again after', async () => {
    stack('stop', 'elasticsearch');
    const workload = runWorkload(conn, 100, 20);
    const unready = await waitFor(
      'the sink to turn unready',
      async () => {
        const answer = await pipeline.sink!.http('/readyz');
        return answer.status === 503 ? (JSON.parse(answer.body) as { reasons: string[]; ready: boolean }) : undefined;
      },
      120_000,
      500,
    );
    assert.equal(unready.ready, false);
    assert.ok(
      unready.reasons.some((r) => /Elasticsearch/.test(r)),
      JSON.stringify(unready),
    );
    assert.equal((await pipeline.source!.http('/readyz')).status, 200, 'the source does not depend on Elasticsearch');
    stack('start', 'elasticsearch');
    await workload;
    await waitFor('the sink to be ready again', async () => (await pipeline.sink!.http('/readyz')).status === 200, 180_000, 500);
    await waitUntilEqual(conn, checks, 180_000);
  });
});
