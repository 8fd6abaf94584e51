import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { readTopic } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { stack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

describe('a schema registry outage while the sink meets schema ids it has not seen', () => {
  const pipeline = new Pipeline(uniqueName('cdc_regoutage'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  let conn: mysql.Connection;

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query(DDL);
    await pipeline.startSource();
    await runWorkload(conn, 1, 50);
    await waitFor('the changes in Kafka', async () => (await readTopic(pipeline.topicOf('customers'))).length >= 50, 120_000);
  });
  after(async () => {
    stack('start', 'registry');
    await pipeline.stopAll();
    await conn.end();
  });

  it('holds the records and retries (nothing dead-lettered), then indexes all of them once the registry answers', async () => {
    stack('stop', 'registry');
    try {
      // A new sink process: no schema id is cached, so every record needs the registry.
      const sink = await pipeline.startSink();
      await waitFor(
        'the sink to hold a batch on REGISTRY_UNAVAILABLE',
        () => sink.lines.some((l) => l.msg === 'batch failed; retrying' && (l.err as { code?: string } | undefined)?.code === 'REGISTRY_UNAVAILABLE'),
        120_000,
        200,
      );
    } finally {
      stack('start', 'registry');
    }
    await waitUntilEqual(conn, checks, 180_000);
    const metrics = (await pipeline.sink!.http('/metrics')).body;
    assert.ok(
      !metrics.includes('cdc_sink_dead_letters_total{'),
      `nothing was dead-lettered: ${metrics
        .split('\n')
        .filter((l) => l.startsWith('cdc_sink_dead_letters_total{'))
        .join('; ')}`,
    );
  });
});
