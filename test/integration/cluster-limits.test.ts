import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { DDL, demoChecks } from '../helpers/demo-tables.ts';
import { es } from '../helpers/elasticsearch.ts';
import { testKafka } from '../helpers/kafka.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { type ServiceProcess, uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

/** Sets `cluster.max_shards_per_node` (null: back to Elasticsearch's default). */
async function setShardLimit(limit: number | null): Promise<void> {
  const put = await es('PUT', '/_cluster/settings', { persistent: { 'cluster.max_shards_per_node': limit } });
  assert.equal(put.status, 200, JSON.stringify(put.body));
}

/** Shards of open indices as the shard limit counts them (replicas too, assigned or not). */
async function openShards(): Promise<number> {
  const { body } = await es('GET', '/_cluster/health');
  const health = body as { active_shards: number; initializing_shards: number; unassigned_shards: number; number_of_data_nodes: number };
  assert.equal(health.number_of_data_nodes, 1, 'the limit is per data node; this suite expects one');
  return health.active_shards + health.initializing_shards + health.unassigned_shards;
}

async function deadLetterCount(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  const exists = (await admin.listTopics()).includes(topic);
  await admin.disconnect();
  if (!exists) return 0;
  let count = 0;
  await readTopicToEnd(testKafka(), topic, () => {
    count++;
  });
  return count;
}

describe('a cluster at its shard limit or blocking writes', () => {
  const pipeline = new Pipeline(uniqueName('cdc_shards'));
  const [customers, orderLines] = DDL.split(';').map((s) => s.trim());
  let conn: mysql.Connection;
  /** An index the block test left blocked, if it failed before lifting it. */
  let blocked: string | undefined;

  before(async () => {
    conn = await pipeline.createDatabase(customers!);
  });
  after(async () => {
    // Other suites share this cluster: the limit goes back whatever happened.
    await setShardLimit(null);
    if (blocked) await setWriteBlock(blocked, null);
    await pipeline.stopAll();
    await conn.end();
  });

  it('holds the new table (nothing dead-lettered, /readyz names the limit) and catches up once the limit is raised', async () => {
    await pipeline.startSource();
    await pipeline.startSink({ ERRORS_TOLERANCE: 'all' });
    const sink = pipeline.sink!;
    await conn.query("INSERT INTO customers (id, name, qty) VALUES (1, 'one', 1), (2, 'two', 2)");
    const [customerCheck, orderLineCheck] = demoChecks((table) => pipeline.indexOf(table));
    await waitUntilEqual(conn, [customerCheck!]);

    // Not one more index fits: a new table's index cannot be created.
    await setShardLimit(await openShards());
    await conn.query(orderLines!);
    await conn.query("INSERT INTO order_lines VALUES (1, 1, 'a', 1.50), (1, 2, 'b', 2.25), (2, 1, 'c', 3.00)");
    await conn.query("UPDATE order_lines SET sku = 'b2' WHERE order_id = 1 AND line_no = 2; DELETE FROM order_lines WHERE order_id = 2");

    const unready = await unreadyWith(sink, 'ELASTICSEARCH_CLUSTER_LIMIT');
    assert.match(unready, /cluster\.max_shards_per_node/);
    const status = JSON.parse((await sink.http('/status')).body) as { held: Record<string, { code: string }>; lastError: { code: string } | null };
    assert.deepEqual(
      Object.values(status.held).map((h) => h.code),
      ['ELASTICSEARCH_CLUSTER_LIMIT'],
      JSON.stringify(status.held),
    );
    assert.equal(status.lastError?.code, 'ELASTICSEARCH_CLUSTER_LIMIT');
    // Time for a few retries: every one of them must keep the records out of the DLQ.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    assert.equal(await deadLetterCount(`${pipeline.prefix}.dlq`), 0, 'no record was dead-lettered');
    assert.equal((await es('HEAD', `/${orderLineCheck!.index}`)).status, 404, 'the index could not be created');

    await setShardLimit(null);
    await waitUntilEqual(conn, [customerCheck!, orderLineCheck!]);
    await waitFor('/readyz to be ready again', async () => (await sink.http('/readyz')).status === 200, 60_000, 500);
    assert.equal(await deadLetterCount(`${pipeline.prefix}.dlq`), 0, 'no record was dead-lettered');
  });

  it('holds writes refused by a block (as after the disk flood stage) and resumes once it is lifted', async () => {
    const sink = pipeline.sink!;
    const [customerCheck, orderLineCheck] = demoChecks((table) => pipeline.indexOf(table));
    // The flood stage sets read_only_allow_delete, which would also let the sink's deletes through; a write block refuses all.
    blocked = customerCheck!.index;
    await setWriteBlock(blocked, true);
    await conn.query("INSERT INTO customers (id, name, qty) VALUES (3, 'three', 3); UPDATE customers SET qty = 20 WHERE id = 2; DELETE FROM customers WHERE id = 1");
    const unready = await unreadyWith(sink, 'ELASTICSEARCH_BLOCKED');
    assert.match(unready, /index\.blocks/);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.equal(await deadLetterCount(`${pipeline.prefix}.dlq`), 0, 'no record was dead-lettered');

    await setWriteBlock(blocked, null);
    blocked = undefined;
    await waitUntilEqual(conn, [customerCheck!, orderLineCheck!]);
    await waitFor('/readyz to be ready again', async () => (await sink.http('/readyz')).status === 200, 60_000, 500);
    assert.equal(await deadLetterCount(`${pipeline.prefix}.dlq`), 0, 'no record was dead-lettered');
  });
});

/** Waits until the sink's /readyz answers 503 naming `code`; returns the answer's body. */
function unreadyWith(sink: ServiceProcess, code: string): Promise<string> {
  return waitFor(
    `/readyz to name ${code}`,
    async () => {
      const answer = await sink.http('/readyz');
      return answer.status === 503 && answer.body.includes(code) ? answer.body : undefined;
    },
    60_000,
    500,
  );
}

async function setWriteBlock(index: string, value: true | null): Promise<void> {
  const put = await es('PUT', `/${index}/_settings`, { 'index.blocks.write': value });
  assert.equal(put.status, 200, JSON.stringify(put.body));
}
