import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, dumpAll, runWorkload } from '../helpers/demo-tables.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { runCli, startService, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * The file connector: a topic archived by `cdc file-sink`, the topic deleted, the archive
 * restored by `cdc file-source` (schemas registered again, values re-encoded), and a new sink
 * indexes the restored topic into a new index: identical to the original, version for version,
 * and equal to MariaDB row by row.
 */
describe('file connector: archive, delete, restore, reindex', () => {
  const pipeline = new Pipeline(uniqueName('cdc_file'));
  const archive = mkdtempSync(join(tmpdir(), 'cdc-archive-'));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
  });
  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('restores an archive into a fresh topic that indexes identically', async () => {
    await pipeline.startSource();
    await pipeline.startSink();
    await runWorkload(conn, 1, 300);
    const original = demoChecks((t) => pipeline.indexOf(t));
    await waitUntilEqual(conn, original);
    await pipeline.source!.stop();
    await pipeline.sink!.stop();
    const topics = ['customers', 'order_lines'].map((t) => pipeline.topicOf(t));
    const counts = new Map(await Promise.all(topics.map(async (t) => [t, (await readTopic(t)).length] as const)));

    const fileSink = startService('file-sink', {
      TOPIC_PREFIX: pipeline.prefix,
      FILE_SINK_TOPICS: topics.join(','),
      FILE_SINK_DIR: archive,
      FILE_SINK_GROUP_ID: uniqueName('archiver'),
      FILE_ROTATE_BYTES: '20000',
    });
    await waitFor(
      'every record archived',
      async () => {
        for (const [topic, n] of counts) if ((await metricValue(fileSink, 'cdc_file_sink_records_total', `topic="${topic}"`)) < n) return false;
        return true;
      },
      120_000,
      500,
    );
    assert.equal(await fileSink.stop('SIGTERM'), 0);
    const files = readdirSync(join(archive, pipeline.topicOf('customers')));
    assert.ok(files.length > 1 && files.every((f) => f.endsWith('.jsonl')), `rotated and completed files: ${files.join(', ')}`);

    const admin = testKafka().admin();
    await admin.connect();
    await admin.deleteTopics({ topics });
    await waitFor('the topics to be gone', async () => !(await admin.listTopics()).some((t) => topics.includes(t)), 60_000, 500);
    await admin.disconnect();

    const restore = startService('file-source', { TOPIC_PREFIX: pipeline.prefix, FILE_SOURCE_DIR: archive, FILE_SOURCE_ID: uniqueName('restore') });
    assert.equal(
      await restore.exited,
      0,
      restore.lines
        .slice(-3)
        .map((l) => l.raw)
        .join('\n'),
    );
    for (const [topic, n] of counts) assert.equal((await readTopic(topic)).length, n, `${topic}: every record restored once`);

    // A new group indexes the restored topics into new indices.
    pipeline.sink = startService('sink', pipeline.sinkEnv({ INDEX_NAME_TEMPLATE: '{prefix}_restored_{table}', SINK_GROUP_ID: uniqueName('grp') }));
    const checks = original.map((c) => ({ ...c, index: c.index.replace(`_${pipeline.database.toLowerCase()}_`, '_restored_') }));
    await waitUntilEqual(conn, checks);
    const [originalDocs, restoredDocs] = [await dumpAll(original), await dumpAll(checks)];
    for (const [i, check] of original.entries()) {
      assert.deepEqual(restoredDocs.get(checks[i]!.index), originalDocs.get(check.index), `${check.table}: documents and versions identical to the original index`);
    }
  });

  it('refuses a malformed archive line with ARCHIVE_INVALID naming the file and line', async () => {
    const bad = mkdtempSync(join(tmpdir(), 'cdc-archive-bad-'));
    mkdirSync(join(bad, 'some.topic'));
    writeFileSync(
      join(bad, 'some.topic', `0-${'0'.repeat(20)}.jsonl`),
      '{"type":"record","topic":"some.topic","partition":0,"offset":"0","timestamp":"0","key":null,"value":null,"headers":{}}\nnot json\n',
    );
    const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL } = stackEnv();
    const result = await runCli(['file-source'], { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, TOPIC_PREFIX: pipeline.prefix, FILE_SOURCE_DIR: bad, FILE_SOURCE_ID: uniqueName('bad'), HTTP_PORT: '0' });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /ARCHIVE_INVALID: some\.topic\/0-0+\.jsonl:2 is not JSON/);
  });
});
