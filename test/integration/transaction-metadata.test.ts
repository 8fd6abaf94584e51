import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

describe('transaction metadata', () => {
  const pipeline = new Pipeline(uniqueName('cdc_txmeta'));
  let conn: mysql.Connection;
  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query('CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE b (id INT PRIMARY KEY)');
    await pipeline.startSource({ TRANSACTION_METADATA: 'true' });
  });
  after(async () => {
    await pipeline.stopAll();
    await conn.end();
  });

  it('gives each event its transaction order and writes BEGIN/END records with counts', async () => {
    await conn.query('START TRANSACTION; INSERT INTO a VALUES (1), (2); INSERT INTO b VALUES (7); COMMIT');
    const markers: Array<Record<string, unknown>> = [];
    await waitFor('BEGIN and END records', async () => {
      markers.length = 0;
      await readTopicToEnd(testKafka(), `${pipeline.prefix}.transactions`, (m) => {
        markers.push(JSON.parse(m.value!.toString()) as Record<string, unknown>);
      });
      return markers.length === 2;
    });
    const [begin, end] = markers;
    assert.equal(begin!.status, 'BEGIN');
    assert.equal(end!.status, 'END');
    assert.equal(end!.id, begin!.id);
    assert.equal(end!.event_count, 3);
    assert.deepEqual(end!.data_collections, [
      { data_collection: `${pipeline.database}.a`, event_count: 2 },
      { data_collection: `${pipeline.database}.b`, event_count: 1 },
    ]);
    const a = (await readTopic(pipeline.topicOf('a'))).map((r) => r.decodedValue!.transaction as Record<string, unknown>);
    const b = (await readTopic(pipeline.topicOf('b'))).map((r) => r.decodedValue!.transaction as Record<string, unknown>);
    assert.deepEqual(
      [...a, ...b].map((t) => [t.id, Number(t.total_order), Number(t.data_collection_order)]),
      [
        [begin!.id, 1, 1],
        [begin!.id, 2, 2],
        [begin!.id, 3, 1],
      ],
    );
  });
});
