import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { testKafka } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection, rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

async function lastValue(topic: string, key: string): Promise<Record<string, unknown> | undefined> {
  let last: Record<string, unknown> | undefined;
  await readTopicToEnd(testKafka(), topic, (message) => {
    if (message.key?.toString() === key && message.value) last = JSON.parse(message.value.toString()) as Record<string, unknown>;
  });
  return last;
}

describe('idle captured tables', () => {
  const pipeline = new Pipeline(uniqueName('cdc_idle'));
  let conn: mysql.Connection;

  before(async () => {
    await freshDatabase(pipeline.database);
    await freshDatabase(`${pipeline.database}_other`);
    conn = await rootConnection(pipeline.database);
    await conn.query(`CREATE TABLE captured (id INT PRIMARY KEY); CREATE TABLE ${pipeline.database}_other.busy (id INT PRIMARY KEY, n INT)`);
    await pipeline.startSource({ HEARTBEAT_INTERVAL_MS: '1000' });
  });
  after(async () => {
    await pipeline.stopAll();
    await conn.query(`DROP DATABASE IF EXISTS ${pipeline.database}_other`);
    await conn.end();
  });

  it('still advance the stored position when other tables change, and heartbeats appear', async () => {
    for (let i = 0; i < 20; i++) await conn.query(`INSERT INTO ${pipeline.database}_other.busy VALUES (?, ?)`, [i, i]);
    const [master] = await rows(conn, 'SHOW MASTER STATUS');
    await waitFor(
      'the stored position to reach the last uncaptured change',
      async () => {
        const stored = (await lastValue(`${pipeline.prefix}.offsets`, pipeline.sourceId))?.position as { file: string; pos: number } | undefined;
        return stored?.file === master!.File && stored?.pos === Number(master!.Position);
      },
      30_000,
      500,
    );
    const heartbeat = await lastValue(`${pipeline.prefix}.heartbeats`, pipeline.sourceId);
    assert.ok(heartbeat, 'a heartbeat record exists');
    assert.equal(heartbeat.sourceId, pipeline.sourceId);
    assert.ok(Date.now() - Number(heartbeat.ts) < 30_000, 'the heartbeat is recent');
  });
});
