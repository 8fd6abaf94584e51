import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { startBulk429Proxy, type BulkFaultProxy } from '../faults/bulk-429-proxy.ts';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { testKafka } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { stack, stackEnv } from '../helpers/stack.ts';

describe('Elasticsearch stopped for 30 s and answering 429 for some items', () => {
  const pipeline = new Pipeline(uniqueName('cdc_esfault'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  let conn: mysql.Connection;
  let proxy: BulkFaultProxy;

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query(DDL);
    proxy = await startBulk429Proxy(stackEnv().ELASTICSEARCH_URL, { everyNth: 7, timesPerId: 2 });
    await pipeline.startSource();
    await pipeline.startSink({ ELASTICSEARCH_URL: proxy.url, BULK_MAX_ACTIONS: '200' });
  });
  after(async () => {
    stack('start', 'elasticsearch');
    await pipeline.stopAll();
    await proxy.close();
    await conn.end();
  });

  it('pauses, retries and resumes: nothing lost, nothing in the DLQ, MariaDB equal row by row', async () => {
    const workload = runWorkload(conn, 1, 300);
    await new Promise((r) => setTimeout(r, 800));
    stack('stop', 'elasticsearch');
    await new Promise((r) => setTimeout(r, 30_000));
    assert.equal(pipeline.sink!.child.exitCode, null, 'the sink survives 30 s without Elasticsearch');
    stack('start', 'elasticsearch');
    await workload;
    await waitUntilEqual(conn, checks, 180_000);
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), pipeline.indexOf('customers'), (k) => String(k.id));
    assert.ok(proxy.rejected > 0, 'the proxy rejected items with 429');
    const metrics = (await pipeline.sink!.http('/metrics')).body;
    const retried = Number(/^cdc_sink_bulk_items_total\{outcome="retried"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    assert.ok(retried >= proxy.rejected, `retried ${retried} items, the proxy rejected ${proxy.rejected}`);
    let letters = 0;
    await readTopicToEnd(testKafka(), `${pipeline.prefix}.dlq`, () => {
      letters++;
    });
    assert.equal(letters, 0, 'nothing went to the dead-letter topic');
  });
});
