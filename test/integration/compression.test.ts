import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { startService, waitReady, type ServiceProcess } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';

const CODECS = ['gzip', 'snappy', 'lz4', 'zstd'] as const;

/** Kafka's own view of the record batches in a topic's log segments (org.apache.kafka.tools.DumpLogSegments). */
function batchCodecs(topic: string): string[] {
  const dir = `${stackEnv().CDC_STACK_DIR}/kafka/data/${topic}-0`;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => `${dir}/${f}`);
  const out = execFileSync('java', ['-cp', `${stackEnv().CDC_KAFKA_LIBS}/*`, 'org.apache.kafka.tools.DumpLogSegments', '--files', files.join(',')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // Transaction markers (control batches) are never compressed: only data batches tell the codec.
  return out
    .split('\n')
    .filter((line) => line.startsWith('baseOffset:') && / isControl: false/.test(line))
    .map((line) => /compresscodec: (\w+)/.exec(line)?.[1] ?? '?');
}

describe('KAFKA_COMPRESSION: every codec written by a source, read back by the sink', () => {
  // One source per codec on the same database, each under its own topic prefix; one sink reads them all.
  const pipelines = new Map(CODECS.map((codec) => [codec, new Pipeline('')] as const));
  const base = new Pipeline('');
  const database = `cdc_codec_${base.prefix.slice(2)}`;
  const indexOf = (codec: string, table: string) => `${base.prefix}_${codec}.${database}.${table}`;
  const services: ServiceProcess[] = [];
  let conn: mysql.Connection;

  before(async () => {
    const setup = new Pipeline(database);
    conn = await setup.createDatabase(DDL);
    await runWorkload(conn, 1, 40);
    for (const codec of CODECS) {
      const source = startService('source', {
        ...pipelines.get(codec)!.sourceEnv({ TOPIC_PREFIX: `${base.prefix}_${codec}`, DATABASE_INCLUDE: database, SNAPSHOT_MODE: 'initial', KAFKA_COMPRESSION: codec }),
      });
      services.push(source);
    }
    const sink = startService('sink', base.sinkEnv({ SINK_TOPICS: `${base.prefix}_[a-z0-9]+\\.[^.]+\\.[^.]+`, INDEX_NAME_TEMPLATE: '{topic}' }));
    services.push(sink);
    for (const service of services) await waitReady(service, 120_000);
  });

  after(async () => {
    await Promise.all(services.map((s) => s.stop('SIGKILL')));
    await conn?.end();
  });

  it('indexes snapshot and streamed changes equal to MariaDB for each codec, from batches Kafka stores with that codec', async () => {
    await runWorkload(conn, 1000, 60);
    for (const codec of CODECS)
      await waitUntilEqual(
        conn,
        demoChecks((table) => indexOf(codec, table)),
      );
    for (const codec of CODECS) {
      const codecs = batchCodecs(`${base.prefix}_${codec}.${database}.customers`);
      assert.ok(codecs.length > 0, `no data batches in the ${codec} topic`);
      assert.deepEqual([...new Set(codecs)], [codec], `the ${codec} source's batches are stored as ${[...new Set(codecs)].join(', ')}`);
    }
  });
});
