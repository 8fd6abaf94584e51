import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { schemaFingerprint, type ColumnDef, type TableSchema } from '../../src/core/change-event.ts';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { ConnectJsonTable } from '../../src/source/connect-schema.ts';
import { dumpIndex, es, searchIds } from '../helpers/elasticsearch.ts';
import { testKafka } from '../helpers/kafka.ts';
import { freshDatabase } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { startService, uniqueName, waitReady, type ServiceProcess } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const PRETTY = '{\n  "p": {\n    "q": "two\\nlines"\n  },\n  "r": [\n    1\n  ]\n}';
const ROWS: Array<[number, string | null]> = [
  [1, '{"a": {"b": [1, 2], "c": "x"}, "big": 9223372036854775807}'],
  [2, '[{"k": 1}, {"k": 2}]'],
  [3, 'null'],
  [4, null],
  [5, PRETTY],
  // `a` is an object in row 1: a concrete value there conflicts with the mapping.
  [6, '{"a": "not an object"}'],
];

async function letters(topic: string): Promise<Array<Record<string, string>>> {
  const out: Array<Record<string, string>> = [];
  await readTopicToEnd(testKafka(), topic, (m) => {
    out.push(Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])));
  });
  return out;
}

/**
 * JSON_COLUMNS=object and flattened: JSON columns searchable inside, exact in `_source`. The
 * stack's MariaDB has no JSON type (a LONGTEXT alias: text), so the records are the ones the
 * source writes for a MySQL JSON column (and Debezium for MySQL: io.debezium.data.Json), written
 * to the table's topic with the source's own encoder.
 */
describe('JSON columns as objects', () => {
  const pipeline = new Pipeline(uniqueName('cdc_json'));
  const flatIndex = `${pipeline.prefix}_flat_docs`;
  const flatDlq = `${pipeline.prefix}.dlq-flat`;
  let flat: ServiceProcess;

  before(async () => {
    await freshDatabase(pipeline.database);
    const columns: ColumnDef[] = [
      { name: 'id', kind: 'int32', sqlType: 'int', optional: false },
      { name: 'j', kind: 'json', sqlType: 'json', optional: true },
    ];
    const table: TableSchema = { database: pipeline.database, table: 'docs', columns, key: ['id'], fingerprint: schemaFingerprint(columns, ['id']) };
    const connect = new ConnectJsonTable(pipeline.prefix, table, false);
    const admin = testKafka().admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: pipeline.topicOf('docs'), numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = testKafka().producer();
    await producer.connect();
    await producer.send({
      topic: pipeline.topicOf('docs'),
      messages: ROWS.map(([id, j]) => {
        const source = { db: pipeline.database, table: 'docs', file: 'binlog.000001', pos: 1000 + id, row: 0, ts_ms: Date.now(), gtid: null, snapshot: 'false', server_id: 1 };
        return { key: connect.key({ id }), value: connect.value({ before: null, after: { id, j }, source, op: 'c', ts_ms: Date.now() }) };
      }),
    });
    await producer.disconnect();
    await pipeline.startSink({ JSON_COLUMNS: 'object' });
    flat = startService('sink', pipeline.sinkEnv({ JSON_COLUMNS: 'flattened', SINK_GROUP_ID: uniqueName('flat'), INDEX_NAME_TEMPLATE: '{prefix}_flat_{table}', DLQ_TOPIC: flatDlq }));
    await waitReady(flat);
    await waitFor('both indices', async () => (await dumpIndex(pipeline.indexOf('docs'))).size === 5 && (await dumpIndex(flatIndex)).size >= 5, 60_000, 500);
  });

  after(async () => {
    await Promise.all([pipeline.stopAll(), flat?.stop('SIGKILL')]);
  });

  it('object: indexes nested objects and arrays, keeps huge integers exact, JSON null and pretty-printed text', async () => {
    const docs = await dumpIndex(pipeline.indexOf('docs'));
    assert.deepEqual(docs.get('1')!.source.j, { a: { b: [1, 2], c: 'x' }, big: 9223372036854775807n }, 'the integer beyond 2^53 is exact in _source');
    assert.deepEqual(docs.get('2')!.source.j, [{ k: 1 }, { k: 2 }]);
    assert.equal(docs.get('3')!.source.j, null);
    assert.equal(docs.get('4')!.source.j, null);
    assert.deepEqual(docs.get('5')!.source.j, { p: { q: 'two\nlines' }, r: [1] });
    const mapping = (await es('GET', `/${pipeline.indexOf('docs')}/_mapping`)).body as Record<string, { mappings: { properties: { j: { type?: string; properties?: Record<string, unknown> } } } }>;
    assert.ok(Object.values(mapping)[0]!.mappings.properties.j.properties?.a, 'j is an object with sub-fields');
    for (const [query, ids] of [
      [{ term: { 'j.a.c': 'x' } }, ['1']],
      [{ term: { 'j.k': 2 } }, ['2']],
      [{ term: { 'j.p.q': 'lines' } }, ['5']],
    ] as const) {
      assert.deepEqual(await searchIds(pipeline.indexOf('docs'), query), ids, JSON.stringify(query));
    }
  });

  it('object: a value whose shape conflicts with the mapping goes to the dead-letter topic with the reason', async () => {
    await waitFor('the conflict in the DLQ', async () => (await letters(`${pipeline.prefix}.dlq`)).length > 0);
    const [letter, ...more] = await letters(`${pipeline.prefix}.dlq`);
    assert.equal(more.length, 0);
    assert.equal(letter!['cdc.errors.code'], 'ELASTICSEARCH_REJECTED');
    assert.match(letter!['cdc.errors.reason']!, /object mapping for \[j\.a\].*concrete value/);
    assert.equal((await dumpIndex(pipeline.indexOf('docs'))).has('6'), false);
  });

  it('flattened: one flattened field, leaves searchable, _source exact; objects only', async () => {
    const mapping = (await es('GET', `/${flatIndex}/_mapping`)).body as Record<string, { mappings: { properties: { j: { type?: string } } } }>;
    const type = Object.values(mapping)[0]!.mappings.properties.j.type;
    if (type !== 'flattened') {
      // This distribution lacks the type: the sink fell back to text (unindexed) with a warning.
      assert.equal(type, 'object');
      return;
    }
    const docs = await dumpIndex(flatIndex);
    assert.deepEqual(docs.get('1')!.source.j, { a: { b: [1, 2], c: 'x' }, big: 9223372036854775807n });
    assert.deepEqual(docs.get('5')!.source.j, { p: { q: 'two\nlines' }, r: [1] });
    // Flattened leaves are keywords: the row whose `a` is a string fits too.
    assert.deepEqual(docs.get('6')!.source.j, { a: 'not an object' });
    for (const [query, ids] of [
      [{ term: { 'j.a.c': 'x' } }, ['1']],
      [{ term: { 'j.big': '9223372036854775807' } }, ['1']],
      [{ term: { 'j.p.q': 'two\nlines' } }, ['5']],
    ] as const) {
      assert.deepEqual(await searchIds(flatIndex, query), ids, JSON.stringify(query));
    }
  });
});
