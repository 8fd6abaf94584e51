import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, expectedCustomer, runWorkload, type TableCheck } from '../helpers/demo-tables.ts';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { readTopic, testKafka, type TopicRecord } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection, rows } from '../helpers/mysql.ts';
import { metricValue, Pipeline, waitProcessed, waitUntilEqual } from '../helpers/pipeline.ts';
import { startService, uniqueName, waitReady, type ServiceProcess } from '../helpers/services.ts';

/**
 * A delete followed by a late replay of the row's older insert (the record re-produced to the
 * topic, as a re-run source or a duplicate would), once the delete's version is older than the
 * index's gc_deletes window. Three sinks read the same topic into their own indices:
 * - hard, INDEX_GC_DELETES=1d (the default): within the window the replay is refused (409);
 * - hard, INDEX_GC_DELETES=2s: past the window the row comes back. This is the documented limit of
 *   hard deletes, and it shows that this test does see a resurrection when one happens;
 * - soft, INDEX_GC_DELETES=2s: the delete is a versioned `__deleted: true` document, so even past
 *   the window the older insert is refused, and the `<index>_current` alias equals the table.
 */
describe('delete safety: no resurrection by a late replay', () => {
  const pipeline = new Pipeline(uniqueName('cdc_deletes'));
  const topic = pipeline.topicOf('customers');
  const modes = {
    hardDay: { DELETE_MODE: 'hard', INDEX_GC_DELETES: '1d' },
    hardShort: { DELETE_MODE: 'hard', INDEX_GC_DELETES: '2s' },
    softShort: { DELETE_MODE: 'soft', INDEX_GC_DELETES: '2s' },
  } as const;
  type Mode = keyof typeof modes;
  const indexOf = (mode: Mode) => `${pipeline.prefix}_${mode.toLowerCase()}`;
  const sinks = new Map<Mode, ServiceProcess>();
  let conn: mysql.Connection;
  let deletedIds: string[] = [];
  let records: TopicRecord[] = [];

  const check = (index: string, extra: Record<string, string> = {}): TableCheck => ({
    table: 'customers',
    index,
    idOf: (r) => String(r.id),
    expected: (r) => ({ ...expectedCustomer(r), ...extra }),
  });

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query(DDL);
    await pipeline.startSource();
    for (const [mode, env] of Object.entries(modes) as Array<[Mode, (typeof modes)[Mode]]>) {
      const sink = startService('sink', pipeline.sinkEnv({ ...env, SINK_GROUP_ID: uniqueName(mode), SINK_TOPICS: topic.replace(/\./g, '\\.'), INDEX_NAME_TEMPLATE: indexOf(mode) }));
      sinks.set(mode, sink);
    }
    await Promise.all([...sinks.values()].map((s) => waitReady(s)));
    await runWorkload(conn, 1, 70);
    const present = new Set((await rows(conn, 'SELECT id FROM customers')).map((r) => String(r.id)));
    deletedIds = Array.from({ length: 70 }, (_, i) => String(i + 1)).filter((id) => !present.has(id));
    assert.equal(deletedIds.length, 10, 'the workload deletes every 7th customer');
    await waitUntilEqual(conn, [check(indexOf('hardDay')), check(indexOf('hardShort')), check(`${indexOf('softShort')}_current`, { __deleted: 'false' })]);
    records = await readTopic(topic);
    await Promise.all([...sinks.values()].map((s) => waitProcessed(s, new Map([[topic, records.length]]))));
  });

  after(async () => {
    await Promise.all([pipeline.stopAll(), ...[...sinks.values()].map((s) => s.stop('SIGKILL'))]);
    await conn?.end();
  });

  it("replays the deleted rows' inserts after the short window has passed", async () => {
    const settings = (await es('GET', `/${indexOf('hardDay')}/_settings/index.gc_deletes`)).body as Record<string, { settings: { index: { gc_deletes: string } } }>;
    assert.equal(settings[indexOf('hardDay')]?.settings.index.gc_deletes, '1d', 'the sink raised gc_deletes on the index it created');
    // Elasticsearch forgets a delete's version at a refresh once gc_deletes has passed.
    await sleep(3000);
    for (const mode of ['hardShort', 'softShort'] as const) await es('POST', `/${indexOf(mode)}/_refresh`);
    await sleep(1000);
    for (const mode of ['hardShort', 'softShort'] as const) await es('POST', `/${indexOf(mode)}/_refresh`);

    const inserts = deletedIds.map((id) => records.find((r) => r.decodedValue?.op === 'c' && String(r.decodedKey?.id) === id));
    assert.ok(inserts.every(Boolean), 'every deleted row has its insert in the topic');
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({ topic, messages: inserts.map((r) => ({ key: r!.key, value: r!.value })) });
    await producer.disconnect();
    await Promise.all([...sinks.values()].map((s) => waitProcessed(s, new Map([[topic, records.length + inserts.length]]))));
  });

  it('hard deletes within gc_deletes: the older inserts are refused as stale and the index equals the table', async () => {
    await waitUntilEqual(conn, [check(indexOf('hardDay'))], 5000);
    assert.ok((await metricValue(sinks.get('hardDay')!, 'cdc_sink_bulk_items_total', 'outcome="stale"')) >= deletedIds.length);
  });

  it('hard deletes past gc_deletes: the older inserts resurrect the rows (the documented limit of hard mode)', async () => {
    const docs = await dumpIndex(indexOf('hardShort'));
    assert.deepEqual(
      deletedIds.filter((id) => docs.has(id)),
      deletedIds,
      'every replayed insert came back',
    );
  });

  it("soft deletes past gc_deletes: nothing comes back, the alias equals the table and tombstones keep the delete's version", async () => {
    await waitUntilEqual(conn, [check(`${indexOf('softShort')}_current`, { __deleted: 'false' })], 5000);
    const docs = await dumpIndex(indexOf('softShort'));
    const deleteVersions = new Map<string, bigint>();
    for (const r of records) {
      const source = r.decodedValue?.source as { file: string; pos: bigint; row: number } | undefined;
      if (r.decodedValue?.op !== 'd' || !source) continue;
      const fileIndex = BigInt(/\.(\d+)$/.exec(source.file)![1]!);
      deleteVersions.set(String(r.decodedKey!.id), fileIndex * 2n ** 32n + BigInt(source.pos) + BigInt(source.row));
    }
    for (const id of deletedIds) {
      const doc = docs.get(id);
      assert.equal(doc?.source.__deleted, true, `customer ${id} is a soft-deleted document`);
      assert.equal(doc.version, deleteVersions.get(id), `customer ${id} keeps its delete's version`);
      assert.equal(String(doc.source.id), id);
    }
  });
});
