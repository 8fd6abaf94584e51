import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, dumpAll, runWorkload } from '../helpers/demo-tables.ts';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
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
    for (const path of [join(archive, pipeline.topicOf('customers')), ...files.map((f) => join(archive, pipeline.topicOf('customers'), f))]) {
      assert.equal(statSync(path).mode & 0o077, 0, `${path} is readable by its owner only (mode ${(statSync(path).mode & 0o777).toString(8)})`);
    }

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

  /** An archive whose own directories are `topics`, each with one file of the given lines. */
  function archiveOf(files: Record<string, string[]>): string {
    const dir = mkdtempSync(join(tmpdir(), 'cdc-archive-tampered-'));
    for (const [topic, lines] of Object.entries(files)) {
      mkdirSync(join(dir, topic));
      writeFileSync(join(dir, topic, `0-${'0'.repeat(20)}.jsonl`), lines.map((l) => `${l}\n`).join(''));
    }
    return dir;
  }
  const record = (topic: string, offset: number, key: string) =>
    JSON.stringify({
      type: 'record',
      topic,
      partition: 0,
      offset: String(offset),
      timestamp: '0',
      key: { base64: Buffer.from(key).toString('base64') },
      value: { base64: Buffer.from('{}').toString('base64') },
      headers: {},
    });
  const restore = (prefix: string, dir: string, extra: Record<string, string> = {}) => {
    const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL } = stackEnv();
    return runCli(['file-source'], { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, TOPIC_PREFIX: prefix, FILE_SOURCE_DIR: dir, FILE_SOURCE_ID: uniqueName('tampered'), HTTP_PORT: '0', ...extra });
  };
  const topicsOf = async (prefix: string) => {
    const admin = testKafka().admin();
    await admin.connect();
    try {
      return (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`)).sort();
    } finally {
      await admin.disconnect();
    }
  };

  it('refuses a tampered archive line that names another topic (the offsets topic) with ARCHIVE_TOPIC_REFUSED, and writes nothing', async () => {
    const prefix = uniqueName('tamper');
    // The first directory is sound; the second one's line was edited to land in the offsets topic.
    const dir = archiveOf({ [`${prefix}.db.good`]: [record(`${prefix}.db.good`, 0, 'k1')], [`${prefix}.db.other`]: [record(`${prefix}.offsets`, 0, 'forged-source-id')] });
    const result = await restore(prefix, dir);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, new RegExp(`ARCHIVE_TOPIC_REFUSED: ${prefix}\\.db\\.other/0-0+\\.jsonl:1 names topic "${prefix}\\.offsets"`));
    assert.deepEqual(await topicsOf(prefix), [], 'no topic was created or written');
  });

  it('refuses an archive directory of an internal topic unless FILE_SOURCE_TOPIC_MAP maps it explicitly', async () => {
    const prefix = uniqueName('tamper');
    const offsets = `${prefix}.offsets`;
    const dir = archiveOf({ [offsets]: [record(offsets, 0, 'forged-source-id')] });
    const refused = await restore(prefix, dir);
    assert.notEqual(refused.status, 0);
    assert.match(refused.stderr, new RegExp(`ARCHIVE_TOPIC_REFUSED: The archive's directory ${prefix}\\.offsets would restore into the internal topic`));
    const renamed = await restore(prefix, dir, { FILE_SOURCE_TOPIC_RENAME: '^(.*)$=$1' });
    assert.match(renamed.stderr, /ARCHIVE_TOPIC_REFUSED/, 'a rename is not an explicit mapping');
    assert.deepEqual(await topicsOf(prefix), [], 'nothing was written');
    for (const internal of ['__consumer_offsets', '__transaction_state', `${prefix}.heartbeats`, `${prefix}.dlq`]) {
      const other = await restore(prefix, archiveOf({ [internal]: [record(internal, 0, 'x')] }));
      assert.match(other.stderr, /ARCHIVE_TOPIC_REFUSED/, internal);
    }

    const mapped = await restore(prefix, dir, { FILE_SOURCE_TOPIC_MAP: `${offsets}=${offsets}` });
    assert.equal(mapped.status, 0, mapped.stderr);
    const keys: string[] = [];
    await readTopicToEnd(testKafka(), offsets, (message) => {
      keys.push(message.key?.toString() ?? '');
    });
    assert.ok(keys.includes('forged-source-id'), `an explicit mapping restores it: ${keys.join(', ')}`);
  });
});
