import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import type mysql from 'mysql2/promise';
import { BLOBS_DDL, MiB, sha256, waitBlobsEqual } from '../helpers/blob-table.ts';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { readTopic, testKafka, type TopicRecord } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { metricValue, Pipeline } from '../helpers/pipeline.ts';
import { startService, uniqueName, waitReady, type ServiceProcess } from '../helpers/services.ts';
import { waitFor, within } from '../helpers/wait.ts';

/** Server-side values, so the test sends no large packet: 5 MiB of text, 20 MiB of random bytes. */
const TEXT_5MIB = `REPEAT('abcdefghijklmnopqrstuvwxyz012345', ${(5 * MiB) / 32})`;
const BLOB_20MIB = `REPEAT(RANDOM_BYTES(1024), ${(20 * MiB) / 1024})`;

/** max.message.bytes of a topic as the broker reports it. */
async function topicLimit(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
    return Number(resources[0]!.configEntries[0]!.configValue);
  } finally {
    await admin.disconnect();
  }
}

/** The exit code and the fatal error of a service expected to stop by itself. */
async function fatalExit(service: ServiceProcess): Promise<{ code: number | null; error: { code?: string; message?: string; hint?: string } }> {
  const code = await within(service.exited, 180_000, 'running' as const);
  if (code === 'running') {
    await service.stop('SIGKILL');
    assert.fail('the source kept running');
  }
  const fatal = service.lines.find((l) => l.level === 'fatal');
  return { code, error: (fatal?.err ?? {}) as { code?: string; message?: string; hint?: string } };
}

const changesOf = (records: TopicRecord[]) => records.filter((r) => r.decodedValue).map((r) => `${r.decodedValue!.op}:${(r.decodedKey as { id: number }).id}`);

describe('oversize rows', () => {
  const pipelines: Pipeline[] = [];
  const connections: mysql.Connection[] = [];
  const services: ServiceProcess[] = [];
  const open = async (name: string) => {
    const pipeline = new Pipeline(uniqueName(name));
    pipelines.push(pipeline);
    const conn = await pipeline.createDatabase(BLOBS_DDL);
    connections.push(conn);
    return { pipeline, conn };
  };
  after(async () => {
    for (const p of pipelines) await p.stopAll();
    for (const s of services) await s.stop('SIGKILL');
    for (const c of connections) await c.end();
  });

  it('with TOPIC_MAX_MESSAGE_BYTES raised, a 5 MiB LONGTEXT and a 20 MiB LONGBLOB row (insert, update, delete) reach Elasticsearch equal to MariaDB', async () => {
    const { pipeline, conn } = await open('cdc_big');
    await pipeline.startSource({ TOPIC_MAX_MESSAGE_BYTES: String(64 * MiB) });
    await pipeline.startSink();
    await conn.query("INSERT INTO blobs VALUES (1, 'small', 'x', NULL)");
    await conn.query(`INSERT INTO blobs VALUES (2, 'five', ${TEXT_5MIB}, NULL)`);
    await conn.query(`INSERT INTO blobs VALUES (3, 'twenty', NULL, ${BLOB_20MIB})`);
    // 40 MiB of before and after image in one record.
    await conn.query("UPDATE blobs SET note = 'twenty, updated' WHERE id = 3");
    await conn.query(`INSERT INTO blobs VALUES (5, 'deleted', NULL, ${BLOB_20MIB})`);
    await conn.query('DELETE FROM blobs WHERE id = 5');
    await conn.query("INSERT INTO blobs VALUES (4, 'marker', 'y', NULL)");
    await waitBlobsEqual(conn, pipeline.indexOf('blobs'), 4);
    assert.equal(await topicLimit(pipeline.topicOf('blobs')), 64 * MiB, 'the topic was created with max.message.bytes = TOPIC_MAX_MESSAGE_BYTES');
  });

  it('a document above ELASTICSEARCH_MAX_REQUEST_BYTES is dead-lettered by the sink as RECORD_TOO_LARGE (value dropped above the DLQ limit), and the rest is indexed', async () => {
    const [big] = pipelines;
    assert.ok(big, 'runs after the first test, on its topic');
    const dlq = `${big.prefix}.sink-dlq`;
    const template = '{prefix}_capped_{database}_{table}';
    // A dead-letter topic from before, with Kafka's 1 MiB default: the sink raises it to its TOPIC_MAX_MESSAGE_BYTES.
    const admin = testKafka().admin();
    await admin.connect();
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic: dlq, numPartitions: 1 }] });
    await admin.disconnect();
    const sink = startService('sink', big.sinkEnv({ SINK_GROUP_ID: uniqueName('capped'), INDEX_NAME_TEMPLATE: template, ELASTICSEARCH_MAX_REQUEST_BYTES: String(16 * MiB), DLQ_TOPIC: dlq }));
    services.push(sink);
    await waitReady(sink);
    const index = `${big.prefix}_capped_${big.database}_blobs`.toLowerCase();
    await waitFor('the marker row indexed', async () => (await es('GET', `/${index}/_doc/4`)).status === 200, 240_000, 1000);
    const letters = (await readTopic(dlq, 30_000, { keepUndecodable: true })).filter((l) => l.headers?.['cdc.errors.code'] === 'RECORD_TOO_LARGE');
    // Row 3's insert and update and row 5's insert carry a 20 MiB blob (27 MiB as base64); row 5's delete carries none.
    assert.equal(letters.length, 3, `three letters: ${letters.map((l) => l.headers?.['__connect.errors.exception.message']).join('; ')}`);
    for (const letter of letters) {
      assert.match(letter.headers!['__connect.errors.exception.message']!, /exceed ELASTICSEARCH_MAX_REQUEST_BYTES=16777216/);
      assert.equal(letter.headers!['__connect.errors.topic'], big.topicOf('blobs'));
      assert.equal(letter.value, null, 'the record is above the DLQ topic limit (TOPIC_MAX_MESSAGE_BYTES, 8 MiB): its value is dropped');
      assert.ok(Number(letter.headers!['cdc.errors.value.bytes']) > 20 * MiB);
    }
    assert.equal(await topicLimit(dlq), 8 * MiB, 'the existing dead-letter topic was raised');
    const docs = await dumpIndex(index);
    assert.deepEqual([...docs.keys()].sort(), ['1', '2', '4'], 'row 3 has no document; row 5 was deleted (its delete fits)');
    assert.equal(await metricValue(sink, 'cdc_sink_dead_letters_total', 'code="RECORD_TOO_LARGE"'), 3);
  });

  it('OVERSIZE_RECORDS=fail stops with RECORD_TOO_LARGE before producing, again after a restart; raising the limit passes the row and loses nothing', async () => {
    const { pipeline, conn } = await open('cdc_fail');
    await pipeline.startSource();
    await conn.query("INSERT INTO blobs VALUES (1, 'before', 'x', NULL)");
    await waitFor('row 1 in Kafka', async () => (await readTopic(pipeline.topicOf('blobs'))).length === 1, 60_000, 500);
    assert.equal(await topicLimit(pipeline.topicOf('blobs')), 8 * MiB, 'created with the default TOPIC_MAX_MESSAGE_BYTES');
    await conn.query(`INSERT INTO blobs VALUES (2, 'twenty', NULL, ${BLOB_20MIB})`);
    await conn.query("INSERT INTO blobs VALUES (3, 'after', 'y', NULL)");
    for (const attempt of ['first', 'after a restart']) {
      const source = attempt === 'first' ? pipeline.source! : startService('source', pipeline.sourceEnv());
      pipeline.source = source;
      const { code, error } = await fatalExit(source);
      assert.equal(code, 1, `${attempt}: exit 1`);
      assert.equal(error.code, 'RECORD_TOO_LARGE', `${attempt}: ${error.message}`);
      assert.match(error.message!, new RegExp(`The c change of ${pipeline.database}\\.blobs with key \\{"id":2\\} at binlog\\.\\d+:\\d+#0 .* encodes to \\d{8} bytes, above the 8388608 bytes`));
      assert.match(error.hint!, /TOPIC_MAX_MESSAGE_BYTES/);
      assert.match(error.hint!, /OVERSIZE_RECORDS=dead-letter/);
    }
    assert.deepEqual(changesOf(await readTopic(pipeline.topicOf('blobs'))), ['c:1'], 'nothing of the failed transaction is visible');

    pipeline.source = startService('source', pipeline.sourceEnv({ TOPIC_MAX_MESSAGE_BYTES: String(32 * MiB) }));
    await waitReady(pipeline.source);
    await pipeline.startSink();
    await waitBlobsEqual(conn, pipeline.indexOf('blobs'), 3);
    assert.equal(await topicLimit(pipeline.topicOf('blobs')), 32 * MiB, 'the existing topic was raised to the new limit');
    assert.deepEqual(changesOf(await readTopic(pipeline.topicOf('blobs'))), ['c:1', 'c:2', 'c:3'], 'each change once, in order');
  });

  it('OVERSIZE_RECORDS=dead-letter writes key, position and sizes to the DLQ in the same transaction and goes on; updates and deletes go without their before image', async () => {
    const { pipeline, conn } = await open('cdc_dead');
    const dlq = `${pipeline.prefix}.dlq`;
    await pipeline.startSource({ OVERSIZE_RECORDS: 'dead-letter' });
    await pipeline.startSink();
    await conn.query("INSERT INTO blobs VALUES (1, 'small', 'x', NULL)");
    // Fits the default 8 MiB as an insert (5 MiB); the update carries 10 MiB of images and goes without its before image.
    await conn.query(`INSERT INTO blobs VALUES (2, 'five', ${TEXT_5MIB}, NULL)`);
    await conn.query(`UPDATE blobs SET note = 'five, updated', body = CONCAT(body, 'z') WHERE id = 2`);
    // Too large in every form: only its dead letter is written, and no document.
    await conn.query(`INSERT INTO blobs VALUES (3, 'twenty', NULL, ${BLOB_20MIB})`);
    // A small row grows too large: its document stays at the small version.
    await conn.query("INSERT INTO blobs VALUES (5, 'grows', NULL, 'tiny')");
    await conn.query(`UPDATE blobs SET note = 'grown', data = ${BLOB_20MIB} WHERE id = 5`);
    // A row grows to 15 MiB (a dead letter), then is deleted: the delete goes without its before image, so the document is removed.
    await conn.query(`INSERT INTO blobs VALUES (6, 'five again', ${TEXT_5MIB}, NULL)`);
    await conn.query(`UPDATE blobs SET body = CONCAT(body, ${TEXT_5MIB}, ${TEXT_5MIB}) WHERE id = 6`);
    await conn.query('DELETE FROM blobs WHERE id = 6');
    await conn.query("INSERT INTO blobs VALUES (4, 'marker', 'y', NULL)");
    const index = pipeline.indexOf('blobs');
    await waitFor('document 4', async () => (await es('GET', `/${index}/_doc/4`)).status === 200, 240_000, 1000);
    assert.equal(pipeline.source!.child.exitCode, null, 'the source keeps running');

    const docs = await dumpIndex(index);
    assert.deepEqual([...docs.keys()].sort(), ['1', '2', '4', '5']);
    assert.equal(docs.get('2')!.source.note, 'five, updated', 'the update without its before image reached the index');
    assert.equal(sha256(docs.get('2')!.source.body as string), (await rows(conn, 'SELECT SHA2(body, 256) AS h FROM blobs WHERE id = 2'))[0]!.h);
    assert.equal(docs.get('5')!.source.note, 'grows', 'the oversize update is missing: the document keeps its previous version');

    const letters = await readTopic(dlq, 30_000, { keepUndecodable: true });
    const described = letters.map((l) => JSON.parse(l.value!.toString('utf8')) as Record<string, unknown>);
    assert.deepEqual(
      described.map((d) => `${d.op}:${(d.key as { id: number }).id}`),
      ['c:3', 'u:5', 'u:6'],
      'one letter per change too large even without its before image',
    );
    for (const [i, letter] of letters.entries()) {
      const d = described[i]!;
      assert.equal(d.code, 'RECORD_TOO_LARGE');
      assert.equal(d.table, `${pipeline.database}.blobs`);
      assert.equal(d.topic, pipeline.topicOf('blobs'));
      assert.match(String((d.position as { file: string }).file), /^binlog\.\d+$/);
      assert.equal(d.limit, 8 * MiB);
      assert.ok((d.bytes as { value: number }).value > 8 * MiB);
      assert.ok(letter.value!.length < 2048, 'no row content in the letter');
      assert.equal(letter.headers!['cdc.errors.code'], 'RECORD_TOO_LARGE');
      assert.equal(letter.headers!['__connect.errors.topic'], pipeline.topicOf('blobs'));
      assert.equal(letter.headers!['__connect.errors.partition'], undefined, 'never in Kafka: no partition or offset');
    }
    const records = await readTopic(pipeline.topicOf('blobs'));
    const insertOf5 = records.find((r) => r.decodedValue?.op === 'c' && (r.decodedKey as { id: number }).id === 5)!;
    assert.deepEqual(letters[1]!.key, insertOf5.key, "a letter's key is the record's own Kafka key");
    const changes = changesOf(records);
    assert.deepEqual(changes, ['c:1', 'c:2', 'u:2', 'c:5', 'c:6', 'd:6', 'c:4'], 'the changes that fit, in order; the oversize ones only as letters');
    const source = pipeline.source!;
    assert.equal(await metricValue(source, 'cdc_source_oversize_records_total', `table="${pipeline.database}.blobs",outcome="dead_lettered"`), 3);
    assert.equal(await metricValue(source, 'cdc_source_oversize_records_total', `table="${pipeline.database}.blobs",outcome="without_before"`), 2);
  });
});
