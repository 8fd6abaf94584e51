import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { startBulk429Proxy, type BulkFaultProxy } from '../faults/bulk-429-proxy.ts';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { startService, uniqueName, type ServiceProcess } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * A sink working on several partitions at once (small bulk requests, so each batch is many
 * chunks whose decoding overlaps the previous chunk's bulk request) while Elasticsearch answers
 * 429 for some items, SIGKILLed mid-way: every offset its group committed covers only changes
 * durable in Elasticsearch, and a second sink of the group ends the index equal to the tables,
 * each document at its row's last change (per-partition order kept).
 */
describe('sink concurrency: several partitions at once, 429s, SIGKILL mid-way', () => {
  const pipeline = new Pipeline(uniqueName('cdc_conc'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  const topics = ['customers', 'order_lines'].map((t) => pipeline.topicOf(t));
  let conn: mysql.Connection;
  let proxy: BulkFaultProxy;
  const sinks: ServiceProcess[] = [];
  const sinkEnv = () => pipeline.sinkEnv({ ELASTICSEARCH_URL: proxy.url, SINK_PARTITION_CONCURRENCY: '4', BULK_MAX_ACTIONS: '40' });

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query(DDL);
    await pipeline.startSource({ TOPIC_PARTITIONS: '4' });
    await runWorkload(conn, 1, 1200);
    // The whole load is in Kafka before the sink starts: it has every partition's backlog at once.
    await waitFor('the load to reach Kafka', async () => (await readTopic(topics[1]!)).length > 500 && (await readTopic(topics[0]!)).length > 2000, 120_000, 1000);
    proxy = await startBulk429Proxy(stackEnv().ELASTICSEARCH_URL, { everyNth: 5, timesPerId: 2 });
  });

  after(async () => {
    await Promise.all([pipeline.stopAll(), ...sinks.map((s) => s.stop('SIGKILL'))]);
    await proxy?.close();
    await conn?.end();
  });

  it('commits only durable offsets, per partition, and ends equal after a second sink', async () => {
    const first = startService('sink', sinkEnv());
    sinks.push(first);
    // Not /readyz: with an item refused in most bulk requests it rightly reports Elasticsearch as failing.
    await first.port();
    const processed = async () => (await Promise.all(topics.map((t) => metricValue(first, 'cdc_sink_records_total', `topic="${t}"`)))).reduce((a, b) => a + b, 0);
    // Commits trail the indexing (each partition's go out in order, after its chunk is durable):
    // the kill must come once both topics have some, or the durability check below checks nothing.
    await waitFor('the sink to index and commit part of the backlog', async () => (await processed()) > 600 && (await committedSomeOfEach()), 120_000, 100);
    assert.equal(await first.stop('SIGKILL'), null, 'the sink was killed');
    assert.ok(proxy.rejected > 0, 'the proxy answered 429 for some items');

    for (const table of ['customers', 'order_lines']) await assertCommittedIsDurable(table);

    const second = startService('sink', sinkEnv());
    sinks.push(second);
    await second.port();
    await waitUntilEqual(conn, checks, 180_000);
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), pipeline.indexOf('customers'), (k) => String(k.id));
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('order_lines'), pipeline.indexOf('order_lines'), (k) => JSON.stringify([String(k.order_id), String(k.line_no)]));
  });

  async function committedSomeOfEach(): Promise<boolean> {
    const admin = testKafka().admin();
    await admin.connect();
    const offsets = await admin.fetchOffsets({ groupId: pipeline.group, topics }).finally(() => admin.disconnect());
    return offsets.every((t) => t.partitions.some((p) => BigInt(p.offset) > 0n));
  }

  /**
   * For each partition, the last change of every key below the group's committed offset must be
   * in Elasticsearch: its document at that change's version or a newer one, or (a delete, or
   * deleted by a newer change already applied) absent.
   */
  async function assertCommittedIsDurable(table: string): Promise<void> {
    const topic = pipeline.topicOf(table);
    const admin = testKafka().admin();
    await admin.connect();
    const [committed] = await admin.fetchOffsets({ groupId: pipeline.group, topics: [topic] }).finally(() => admin.disconnect());
    const below = new Map(committed!.partitions.map((p) => [p.partition, BigInt(p.offset)]));
    assert.ok(
      [...below.values()].some((o) => o > 0n),
      `the group committed some offsets of ${topic}`,
    );
    const records = await readTopic(topic);
    const versionOf = (value: Record<string, unknown>) => {
      const source = value.source as { file: string; pos: bigint; row: number };
      return BigInt(/\.(\d+)$/.exec(source.file)![1]!) * 2n ** 32n + BigInt(source.pos) + BigInt(source.row);
    };
    const idOf = (key: Record<string, unknown>) => (table === 'customers' ? String(key.id) : JSON.stringify([String(key.order_id), String(key.line_no)]));
    const lastCommitted = new Map<string, bigint>();
    const deletes = new Map<string, bigint[]>();
    for (const r of records) {
      if (!r.decodedKey || !r.decodedValue) continue;
      const id = idOf(r.decodedKey);
      const version = versionOf(r.decodedValue);
      if (r.decodedValue.op === 'd') deletes.set(id, [...(deletes.get(id) ?? []), version]);
      if (BigInt(r.offset) < (below.get(r.partition) ?? 0n)) lastCommitted.set(id, version);
    }
    const docs = await dumpIndex(pipeline.indexOf(table));
    let checked = 0;
    for (const [id, version] of lastCommitted) {
      const doc = docs.get(id);
      if (doc) assert.ok(doc.version >= version, `${table} ${id}: committed change ${version} but the document is at ${doc.version}`);
      else
        assert.ok(
          (deletes.get(id) ?? []).some((v) => v >= version),
          `${table} ${id}: committed change ${version} but no document`,
        );
      checked++;
    }
    assert.ok(checked > 0, `some committed changes of ${table} were checked`);
  }
});
