import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { dumpIndex, searchIds } from '../helpers/elasticsearch.ts';
import { Registry } from '../../src/core/schema-registry.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * MariaDB's JSON column is a LONGTEXT with a json_valid check: the source finds the check in
 * information_schema.CHECK_CONSTRAINTS and captures the column as JSON, so JSON_COLUMNS applies to
 * it on both paths (snapshot and binlog). A plain LONGTEXT holding JSON text stays text.
 */
describe('MariaDB JSON columns (LONGTEXT with json_valid)', () => {
  const pipeline = new Pipeline(uniqueName('cdc_mjson'));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase('CREATE TABLE docs (id INT PRIMARY KEY, j JSON, t LONGTEXT)');
    await conn.query(`INSERT INTO docs VALUES (1, '{"a": {"c": "x"}, "big": 9223372036854775807}', '{"a": 1}')`);
    await pipeline.startSource({ SNAPSHOT_MODE: 'initial' });
    await pipeline.startSink({ JSON_COLUMNS: 'object' });
    await conn.query(`INSERT INTO docs VALUES (2, '[{"k": 2}]', '{"a": 2}')`);
    await waitFor('both rows indexed', async () => (await dumpIndex(pipeline.indexOf('docs'))).size === 2, 120_000, 500);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('indexes the JSON column as an object from the snapshot and from the binlog, the LONGTEXT as text', async () => {
    const docs = await dumpIndex(pipeline.indexOf('docs'));
    assert.deepEqual(docs.get('1')!.source, { id: 1, j: { a: { c: 'x' }, big: 9223372036854775807n }, t: '{"a": 1}' });
    assert.deepEqual(docs.get('2')!.source, { id: 2, j: [{ k: 2 }], t: '{"a": 2}' });
    for (const [query, ids] of [
      [{ term: { 'j.a.c': 'x' } }, ['1']],
      [{ term: { 'j.k': 2 } }, ['2']],
    ] as const) {
      assert.deepEqual(await searchIds(pipeline.indexOf('docs'), query), ids, JSON.stringify(query));
    }
  });

  it('types the column as JSON in the Avro schema (io.debezium.data.Json)', async () => {
    const registry = new Registry({ url: stackEnv().SCHEMA_REGISTRY_URL });
    try {
      const envelope = JSON.stringify(await registry.latest(`${pipeline.topicOf('docs')}-value`));
      assert.match(envelope, /"name":"j","type":\["null",\{"type":"string","logicalType":"json"/);
      assert.match(envelope, /"name":"t","type":\["null","string"\]/);
    } finally {
      registry.close();
    }
  });
});
