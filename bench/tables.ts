/**
 * Many tables (BENCH_ONLY=tables): BENCH_TABLES tables (1,000 by default) of two rows each, then
 * a source (initial snapshot) and a sink started together; tables per second from the source's
 * start until every row of every table is searchable. Each table costs two subject
 * registrations, a topic, an index with its mapping and a Kafka transaction (or a share of one).
 * Indices get one shard and no replica; the cluster's shard limit is raised for the run (1,000
 * indices are the default cluster.max_shards_per_node of a one-node cluster) and restored after,
 * and the indices, topics and database are removed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { es } from '../test/helpers/elasticsearch.ts';
import { deleteTopics } from '../test/helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../test/helpers/mysql.ts';
import { Pipeline } from '../test/helpers/pipeline.ts';
import { uniqueName } from '../test/helpers/services.ts';

const TABLES = Number(process.env.BENCH_TABLES ?? 1000);
/** Tables created per statement batch (CREATE and INSERT of each). */
const DDL_BATCH = 100;
/** A bound on the whole run: a stuck pipeline ends the part with what it reached. */
const GIVE_UP_MS = 30 * 60_000;

async function searchable(pattern: string): Promise<number> {
  await es('POST', `/${pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true`);
  const { body } = await es('GET', `/${pattern}/_count?ignore_unavailable=true&allow_no_indices=true`);
  return Number((body as { count?: number }).count ?? 0);
}

export async function tablesBench(): Promise<void> {
  const pipeline = new Pipeline(uniqueName('bench_tables'));
  await freshDatabase(pipeline.database);
  const conn = await rootConnection(pipeline.database);
  const name = (i: number) => `t${String(i).padStart(5, '0')}`;
  for (let from = 0; from < TABLES; from += DDL_BATCH) {
    const statements: string[] = [];
    for (let i = from; i < Math.min(TABLES, from + DDL_BATCH); i++) {
      statements.push(`CREATE TABLE ${name(i)} (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO ${name(i)} VALUES (1, 'one'), (2, 'two')`);
    }
    await conn.query(statements.join(';\n'));
  }
  const limit = 'cluster.max_shards_per_node';
  const settings = (await es('GET', `/_cluster/settings?filter_path=persistent.${limit}`)).body as { persistent?: Record<string, unknown> };
  const previous = (settings.persistent?.cluster as { max_shards_per_node?: string } | undefined)?.max_shards_per_node ?? null;
  await es('PUT', '/_cluster/settings', { persistent: { [limit]: 1000 + 2 * TABLES } });
  const pattern = `${pipeline.prefix}_${pipeline.database}_*`;
  try {
    const started = performance.now();
    await Promise.all([pipeline.startSource({ SNAPSHOT_MODE: 'initial' }), pipeline.startSink({ INDEX_SHARDS: '1', INDEX_REPLICAS: '0' })]);
    let done = await searchable(pattern);
    while (done < 2 * TABLES && performance.now() - started < GIVE_UP_MS) {
      for (const service of [pipeline.source!, pipeline.sink!]) if (service.child.exitCode !== null) throw new Error(`a service exited: ${service.lines.at(-1)?.raw}`);
      await sleep(1000);
      done = await searchable(pattern);
    }
    const seconds = (performance.now() - started) / 1000;
    const tables = done / 2;
    console.log(`many tables: ${tables} of ${TABLES} tables (2 rows each) searchable ${seconds.toFixed(1)} s after source start: ${(tables / seconds).toFixed(1)} tables/s`);
  } finally {
    await pipeline.stopAll();
    await es('DELETE', `/${pattern}?ignore_unavailable=true&allow_no_indices=true&expand_wildcards=all`);
    await es('PUT', '/_cluster/settings', { persistent: { [limit]: previous } });
    await deleteTopics(pipeline.prefix).catch((error: unknown) => console.log(`  (topics of ${pipeline.prefix} not deleted: ${String(error)})`));
    await conn.query(`DROP DATABASE \`${pipeline.database}\``);
    await conn.end();
  }
}
