import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { startService, uniqueName, waitReady } from '../helpers/services.ts';
import { waitFor, within } from '../helpers/wait.ts';

interface Letter {
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

async function deadLetters(topic: string): Promise<Letter[]> {
  const letters: Letter[] = [];
  await readTopicToEnd(testKafka(), topic, (m) => {
    const headers = Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)]));
    letters.push({ key: m.key?.toString('hex') ?? null, value: m.value?.toString('utf8') ?? null, headers });
  });
  return letters;
}

describe('dead letters', () => {
  const pipeline = new Pipeline(uniqueName('cdc_dlq'));
  let conn: mysql.Connection;

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query('CREATE TABLE good (id INT PRIMARY KEY, name VARCHAR(20)); CREATE TABLE clash (id INT PRIMARY KEY, name VARCHAR(20))');
    // An index whose mapping contradicts the table: every `clash` document is a mapping conflict.
    await es('PUT', `/${pipeline.indexOf('clash')}`, { mappings: { properties: { name: { type: 'integer' } } } });
    await pipeline.startSource();
    await conn.query("INSERT INTO good VALUES (1, 'one'); INSERT INTO clash VALUES (1, 'not a number')");
    await waitFor('both topics', async () => (await readTopic(pipeline.topicOf('good'))).length === 1 && (await readTopic(pipeline.topicOf('clash'))).length === 1);
    // A poison record: not Confluent-framed Avro at all.
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({ topic: pipeline.topicOf('good'), messages: [{ key: 'k', value: 'this is not avro', headers: { origin: 'test' } }] });
    await producer.disconnect();
    await conn.query("INSERT INTO good VALUES (2, 'two')");
  });
  after(async () => {
    await pipeline.stopAll();
    await conn.end();
  });

  it('ERRORS_TOLERANCE=none stops the sink with the coded error and the record coordinates', async () => {
    const sink = startService('sink', pipeline.sinkEnv({ ERRORS_TOLERANCE: 'none', SINK_GROUP_ID: uniqueName('strict') }));
    const code = await within(sink.exited, 60_000, 'still running' as const);
    if (code === 'still running') await sink.stop('SIGKILL');
    assert.equal(code, 1);
    const fatal = sink.lines.find((l) => l.level === 'fatal');
    assert.match(String((fatal?.err as { message?: string } | undefined)?.message), /(DECODE_FAILED|ELASTICSEARCH_REJECTED)?.*record .*@\d+; ERRORS_TOLERANCE=none/);
  });

  it('without SCHEMA_REGISTRY_URL an Avro record stops the sink with CONFIG_INVALID: nothing dead-lettered, nothing committed', async () => {
    const group = uniqueName('noregistry');
    const dlq = `${pipeline.prefix}.dlq-noregistry`;
    const sink = startService('sink', pipeline.sinkEnv({ SCHEMA_REGISTRY_URL: '', SINK_GROUP_ID: group, DLQ_TOPIC: dlq }));
    const code = await within(sink.exited, 60_000, 'still running' as const);
    if (code === 'still running') await sink.stop('SIGKILL');
    assert.equal(code, 2, 'exit 2: bad configuration');
    const fatal = sink.lines.find((l) => l.level === 'fatal');
    assert.match(String((fatal?.err as { message?: string } | undefined)?.message), /Confluent-framed Avro .*SCHEMA_REGISTRY_URL is not set/);
    assert.equal((fatal?.err as { code?: string } | undefined)?.code, 'CONFIG_INVALID');
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      if (topics.includes(dlq)) assert.equal((await deadLetters(dlq)).length, 0, 'no record was dead-lettered');
      const [committed] = await admin.fetchOffsets({ groupId: group, topics: [pipeline.topicOf('good')] });
      assert.ok(
        committed!.partitions.every((p) => p.offset === '-1'),
        `no offset committed: ${JSON.stringify(committed)}`,
      );
    } finally {
      await admin.disconnect();
    }
  });

  it('ERRORS_TOLERANCE=all sends the poison record and the mapping conflict to the DLQ with context, and goes on', async () => {
    const dlq = `${pipeline.prefix}.dlq`;
    const sink = startService('sink', pipeline.sinkEnv());
    await waitReady(sink);
    await waitFor('two dead letters and both good rows indexed', async () => (await deadLetters(dlq)).length >= 2 && (await dumpIndex(pipeline.indexOf('good'))).size === 2, 60_000, 500);
    assert.equal(sink.child.exitCode, null, 'the sink keeps running');
    const letters = await deadLetters(dlq);
    assert.equal(letters.length, 2);
    const poison = letters.find((l) => l.headers['cdc.errors.code'] === 'DECODE_FAILED')!;
    assert.ok(poison, 'the poison record is a DECODE_FAILED letter');
    assert.equal(poison.value, 'this is not avro', 'the original value, byte for byte');
    assert.equal(poison.headers.origin, 'test', 'original headers kept');
    assert.equal(poison.headers['__connect.errors.topic'], pipeline.topicOf('good'));
    assert.match(poison.headers['__connect.errors.offset']!, /^\d+$/);
    assert.equal(poison.headers['__connect.errors.partition'], '0');
    const conflict = letters.find((l) => l.headers['cdc.errors.code'] === 'ELASTICSEARCH_REJECTED')!;
    assert.ok(conflict, 'the mapping conflict is an ELASTICSEARCH_REJECTED letter');
    assert.equal(conflict.headers['__connect.errors.topic'], pipeline.topicOf('clash'));
    assert.match(conflict.headers['__connect.errors.exception.message']!, /clash|mapper|integer|number/i);
    assert.ok(conflict.headers['cdc.errors.timestamp']);
    const metrics = (await sink.http('/metrics')).body;
    assert.match(metrics, /cdc_sink_dead_letters_total\{code="DECODE_FAILED"\} 1/);
    await sink.stop('SIGTERM');
  });
});
