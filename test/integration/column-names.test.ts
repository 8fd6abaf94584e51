import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { testKafka } from '../helpers/kafka.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const DDL = `
CREATE TABLE odd (id INT PRIMARY KEY, \`col with space\` VARCHAR(20), \`col-dash\` INT, \`a.b\` VARCHAR(20), \`ünïcode\` VARCHAR(20), \`1st\` INT);
CREATE TABLE reserved (id INT PRIMARY KEY, \`_id\` VARCHAR(20));
CREATE TABLE renamed (id INT PRIMARY KEY, \`_source\` VARCHAR(20));
`;

/** Documents carry the MySQL column names, not the Avro field names; names Elasticsearch cannot hold are refused. */
describe('original column names in documents', () => {
  const pipeline = new Pipeline(uniqueName('cdc_colnames'));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource();
    // `_source` is renamed on the sink, `_id` is not: only `reserved` is refused.
    await pipeline.startSink({ TRANSFORMS: 'fix', TRANSFORMS_FIX_TYPE: 'rename', TRANSFORMS_FIX_RENAMES: '_source:source_text' });
    await conn.query("INSERT INTO odd VALUES (1, 'spaced', 7, 'dotted', 'grüße', 42); INSERT INTO reserved VALUES (1, 'x'); INSERT INTO renamed VALUES (1, 'y')");
    await waitFor('odd and renamed indexed', async () => (await dumpIndex(pipeline.indexOf('odd'))).size === 1 && (await dumpIndex(pipeline.indexOf('renamed'))).size === 1, 60_000, 500);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('indexes spaces, dashes, dots, non-ASCII letters and leading digits under the column names', async () => {
    const doc = (await dumpIndex(pipeline.indexOf('odd'))).get('1')!;
    assert.deepEqual(doc.source, { id: 1, 'col with space': 'spaced', 'col-dash': 7, 'a.b': 'dotted', ünïcode: 'grüße', '1st': 42 });
    // Users query by their column names; `a.b` is the object path a → b in the mapping.
    for (const query of [{ term: { '1st': 42 } }, { term: { 'col-dash': 7 } }, { match: { 'col with space': 'spaced' } }, { match: { 'a.b': 'dotted' } }, { match: { ünïcode: 'grüße' } }]) {
      const found = (await es('POST', `/${pipeline.indexOf('odd')}/_search`, { query })).body as { hits: { total: { value: number } } };
      assert.equal(found.hits.total.value, 1, JSON.stringify(query));
    }
    const mapping = (await es('GET', `/${pipeline.indexOf('odd')}/_mapping`)).body as Record<
      string,
      { mappings: { properties: Record<string, { type?: string; properties?: Record<string, unknown> }> } }
    >;
    const properties = Object.values(mapping)[0]!.mappings.properties;
    assert.equal(properties['1st']?.type, 'integer', 'the mapping uses the column names too');
    assert.ok(properties.a?.properties?.b, 'a.b is mapped as the path a → b');
  });

  it('indexes a reserved name that a rename transform handles', async () => {
    assert.deepEqual((await dumpIndex(pipeline.indexOf('renamed'))).get('1')!.source, { id: 1, source_text: 'y' });
  });

  it('dead-letters a reserved name no transform handles, with a coded error naming table, column and setting', async () => {
    const letters: Array<Record<string, string>> = [];
    await waitFor('the refused record in the DLQ', async () => {
      letters.length = 0;
      await readTopicToEnd(testKafka(), `${pipeline.prefix}.dlq`, (m) => {
        letters.push(Object.fromEntries(Object.entries(m.headers ?? {}).map(([k, v]) => [k, String(v)])));
      });
      return letters.length > 0;
    });
    assert.equal(letters.length, 1);
    const [letter] = letters;
    assert.equal(letter!['cdc.errors.code'], 'FIELD_NAME_INVALID');
    assert.equal(letter!['__connect.errors.topic'], pipeline.topicOf('reserved'));
    const message = letter!['__connect.errors.exception.message']!;
    assert.match(message, new RegExp(`Column "_id" of ${pipeline.database}\\.reserved .*metadata field`));
    assert.equal((await dumpIndex(pipeline.indexOf('reserved'))).size, 0);
  });
});
