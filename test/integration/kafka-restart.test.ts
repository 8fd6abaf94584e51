import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { stack } from '../helpers/stack.ts';

describe('an ordinary Kafka broker restart under load', () => {
  const pipeline = new Pipeline(uniqueName('cdc_kafkarestart'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  let conn: mysql.Connection;

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query(DDL);
    await pipeline.startSource();
    await pipeline.startSink();
  });
  after(async () => {
    stack('start', 'kafka');
    await pipeline.stopAll();
    await conn.end();
  });

  it('is ridden out with warnings only: no error line in source or sink, and every row arrives', async () => {
    const workload = runWorkload(conn, 1, 200);
    await new Promise((r) => setTimeout(r, 800));
    stack('restart', 'kafka');
    await workload;
    await waitUntilEqual(conn, checks, 180_000);
    const errors = (service: NonNullable<Pipeline['source']>) => service.lines.filter((l) => l.level === 'error' || l.level === 'fatal').map((l) => l.raw);
    assert.deepEqual(errors(pipeline.source!), [], 'the source logged no error');
    assert.deepEqual(errors(pipeline.sink!), [], 'the sink logged no error');
    const warned = [...pipeline.source!.lines, ...pipeline.sink!.lines].filter((l) => l.level === 'warn');
    assert.ok(warned.length > 0, 'the outage is still visible, as warnings');
    assert.ok(
      warned.filter((l) => l.component === 'kafkajs').every((l) => l.code === 'KAFKA_UNAVAILABLE'),
      'kafkajs lines carry the coded outage',
    );
  });
});
