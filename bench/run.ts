/**
 * `make bench`: throughput on this machine, as ratios against baselines run in the same process
 * tree, so the figures say something even though the machine's speed varies.
 *
 * 1. End to end: BENCH_ROWS rows inserted into MariaDB (1,000-row transactions) until all are
 *    searchable in Elasticsearch, through source (exactly-once Kafka transactions) and sink, from
 *    a cold start (services just started, a new table: its topic, schema and index are made on
 *    the way). Then as many rows again, warm: the same services and table, as the raw loader is
 *    warmed up before it is timed. Before either, the stack is warmed up untimed: BENCH_WARMUP_ROWS
 *    rows (20,000) through a throwaway table, BENCH_WARMUP_DOCS documents (1,000,000) by the raw
 *    loader, then a wait until the stack is quiet (warmStack).
 * 2. Baseline: a raw bulk loader writing the very same documents — same ids, same external
 *    versions, same bulk size — straight into a fresh index with the same mapping.
 * Ratio = end-to-end rows/s ÷ raw loader docs/s.
 * 3. Sink alone: a new sink group indexes the end-to-end run's pre-filled topic into a fresh
 *    index; its docs/s ÷ the raw loader's, and the sink's peak RSS (VmHWM) in both runs.
 * 4. Source alone: rows/s into Kafka (committed) with exactly-once on and off, each ÷ a bare
 *    kafkajs producer sending the same already-encoded records without transactions. Beside it,
 *    what the parts no source can skip reach alone (bench/budget.ts): the source's own
 *    TransactionalWriter committing those records in transactions of the source's size, and its
 *    binlog reader reading the same changes; and the ceiling their CPU a row leaves on the cores.
 * 5. Snapshot: BENCH_SNAPSHOT_ROWS rows snapshotted into Kafka (SNAPSHOT_MODE=initial_only,
 *    acknowledged; BENCH_SNAPSHOT_CHUNK_ROWS, 5,000, rows a chunk and transaction) alone on the machine ÷ a bare producer re-sending the same records, and ÷
 *    `mariadb-dump --single-transaction` of the table to /dev/null, with the same parts alone as
 *    in 4 (the snapshot's reading: its read view and chunks into canonical rows); then once more while a writer
 *    updates rows: its rate under that load, and the writer's p99 latency during ÷ without.
 * 6. Recovery: time from SIGKILL of the source to a change committed by its successor.
 * 7. Compression (BENCH_ONLY=compression, BENCH_COMPRESSION_ROWS): the source alone with each
 *    KAFKA_COMPRESSION, rows/s and the topic's bytes on disk, each ÷ the uncompressed run's.
 * 8. Converters: the source alone with VALUE_CONVERTER=avro and =json (rows/s into Kafka, bytes
 *    per event in the topic), then a sink indexing each topic (docs/s); json ÷ avro.
 * 9. Transforms: events/s through a chain of four transforms and through masking ÷ no chain,
 *    in process (bench/transforms.ts).
 * 10. One large transaction (bigtx, BENCH_BIGTX_ROWS, 1,000,000 by default): one INSERT … SELECT
 *    through source and sink, rows/s from its commit until all are searchable, source peak RSS.
 * 11. Latency (latency): single-row transactions at half the end-to-end rate (BENCH_LATENCY_RATE
 *    when e2e did not run) for BENCH_LATENCY_SECONDS; p50/p99 from MariaDB commit to searchable
 *    (index refresh 1 s, Elasticsearch's default).
 * 12. Many tables (tables, BENCH_TABLES, 1,000 by default): tables of two rows each, tables per
 *    second from source start until all are searchable (bench/tables.ts).
 * 13. Documents (documents): the sink's record → bulk action, direct from the Avro bytes ÷ through
 *    row objects, in process (bench/documents.ts).
 * Every part that runs a source reports its peak RSS (VmHWM). BENCH_CPU_PROF=<dir> runs the
 * services under `node --cpu-prof` and prints the top ten self-time functions of each source run.
 * Nothing here gates CI.
 */
// First: the bare producer gets the same kafkajs replacements as the source (fair baseline).
import '../src/core/kafkajs-patches.ts';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { Client } from '@elastic/elasticsearch';
import { dumpIndex, es } from '../test/helpers/elasticsearch.ts';
import { freshDatabase, rootConnection } from '../test/helpers/mysql.ts';
import { Pipeline } from '../test/helpers/pipeline.ts';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readTopicToEnd } from '../src/core/topic-reader.ts';
import { testKafka } from '../test/helpers/kafka.ts';
import { startService, uniqueName, type ServiceProcess } from '../test/helpers/services.ts';
import { stackEnv } from '../test/helpers/stack.ts';
import { topSelfTime } from './cpu-profile-top.ts';
import { best, median } from './stats.ts';
import { binlogReadAlone } from './binlog-read.ts';
import { budgetLines, type ReadFigure } from './budget.ts';
import { cpuByProcess, cpuShares, processCpuSeconds } from './process-cpu.ts';
import { producerBaselines, type ProducerFigure } from './producers.ts';
import { snapshotReadAlone } from './snapshot-read.ts';
import { documentsBench } from './documents.ts';
import { tablesBench } from './tables.ts';
import { transformsBench } from './transforms.ts';

const ROWS = Number(process.env.BENCH_ROWS ?? 200_000);
const SNAPSHOT_ROWS = Number(process.env.BENCH_SNAPSHOT_ROWS ?? 1_000_000);
/**
 * The snapshot's chunk and transaction (its SNAPSHOT_CHUNK_ROWS, 5,000 by default as in the
 * service), and the exactly-once baseline's. A knob of its own: CDC_SERVICE_ENV_SNAPSHOT_CHUNK_ROWS
 * would not reach the source, whose setting here wins.
 */
const SNAPSHOT_TRANSACTION_ROWS = Number(process.env.BENCH_SNAPSHOT_CHUNK_ROWS ?? 5000);
/** Comma-separated parts to run (e2e, source, snapshot, bigtx, latency, recovery, converters, transforms, documents, tables; compression only when named). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'e2e,source,snapshot,bigtx,latency,recovery,converters,transforms,documents,tables').split(','));
/** Rounds of the source part: its ratios are medians of each round's own (see the part). */
const SOURCE_ROUNDS = Number(process.env.BENCH_SOURCE_ROUNDS ?? 3);
/** Rows of the untimed pass that warms the stack before the end-to-end run (warmStack), as many as the raw loader's warm-up. */
const WARMUP_ROWS = Number(process.env.BENCH_WARMUP_ROWS ?? 20_000);
/** Documents the raw loader writes, untimed, to warm Elasticsearch up before the end-to-end run (warmStack). */
const WARMUP_DOCS = Number(process.env.BENCH_WARMUP_DOCS ?? 1_000_000);
const PROFILE_DIR = process.env.BENCH_CPU_PROF;
if (PROFILE_DIR) process.env.CDC_SERVICE_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${PROFILE_DIR}`;
const TX_ROWS = 1000;
const BULK = 5000;
const BULKS_IN_FLIGHT = 2;

async function count(index: string): Promise<number> {
  await es('POST', `/${index}/_refresh`);
  const { body } = await es('GET', `/${index}/_count`);
  return Number((body as { count?: number }).count ?? 0);
}

/** Kafka records a running sink has made durable, from its own metrics (0 before it answers). */
async function sinkRecords(sink: ServiceProcess): Promise<number> {
  const metrics = await sink.http('/metrics').catch(() => ({ body: '' }));
  return [...metrics.body.matchAll(/^cdc_sink_records_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

/** The sink's chunks so far (each one bulk request, or more when it outgrew BULK_MAX_BYTES) and their records, from its metrics. */
async function sinkChunks(sink: ServiceProcess): Promise<{ chunks: number; records: number }> {
  const metrics = await sink.http('/metrics').catch(() => ({ body: '' }));
  const sum = (name: string) => [...metrics.body.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
  return { chunks: sum('cdc_sink_batch_records_count'), records: sum('cdc_sink_batch_records_sum') };
}

/**
 * Waits until `rows` documents of `index` are searchable, watching the sink's own count of durable
 * records and refreshing the index once at the end, as the raw loader does. Polling the index
 * itself (a refresh and a count every 250 ms) would make Elasticsearch write a segment four times
 * a second while the sink indexes, a cost the raw loader, whose index is never searched during
 * its load, does not pay. `onProgress` sees each durable count as it is polled.
 */
/**
 * How long to wait before reading a service's metrics again: often before its first record and
 * near the end (where the figures' start and end are taken), seldom between, since rendering the
 * metrics text costs the measured service CPU (about 3 % of the sink's at ten reads a second).
 */
function pollDelayMs(done: number, total: number): number {
  return done === 0 || done >= 0.9 * total ? 100 : 500;
}

async function untilIndexed(sink: ServiceProcess, index: string, rows: number, onProgress?: (records: number) => Promise<void>, alsoAlive: ServiceProcess[] = []): Promise<void> {
  for (;;) {
    assertAlive(sink, ...alsoAlive);
    const records = await sinkRecords(sink);
    await onProgress?.(records);
    if (records >= rows && (await count(index).catch(() => 0)) >= rows) return;
    await sleep(pollDelayMs(records, rows));
  }
}

async function benchTable(): Promise<{ pipeline: Pipeline; conn: Awaited<ReturnType<typeof rootConnection>> }> {
  const pipeline = new Pipeline(uniqueName('bench'));
  await freshDatabase(pipeline.database);
  const conn = await rootConnection(pipeline.database);
  await conn.query(`CREATE TABLE events (
    id BIGINT PRIMARY KEY, account VARCHAR(40) NOT NULL, amount DECIMAL(12,2) NOT NULL, kind ENUM('debit','credit') NOT NULL,
    note VARCHAR(120), created_at DATETIME(6) NOT NULL, score DOUBLE, flags INT)`);
  return { pipeline, conn };
}

/** Inserts ids first … first + rows - 1 in TX_ROWS-row transactions. */
async function insertRows(conn: Awaited<ReturnType<typeof rootConnection>>, rows = ROWS, first = 0): Promise<void> {
  const end = first + rows;
  for (let from = first; from < end; from += TX_ROWS) {
    const values: unknown[] = [];
    const placeholders: string[] = [];
    for (let id = from; id < Math.min(end, from + TX_ROWS); id++) {
      placeholders.push('(?,?,?,?,?,?,?,?)');
      values.push(id, `acct-${id % 977}`, (id % 100000) / 100, id % 2 ? 'debit' : 'credit', `note ${id}`, '2024-05-06 07:08:09.123456', id / 7, id % 13);
    }
    await conn.query(`INSERT INTO events VALUES ${placeholders.join(',')}`, values);
  }
}

function assertAlive(...services: ServiceProcess[]): void {
  for (const service of services) {
    if (service.child.exitCode !== null)
      throw new Error(
        `a service exited: ${service.lines
          .slice(-3)
          .map((l) => l.raw)
          .join('\n')}`,
      );
  }
}

/** Peak resident set size of a running service (Linux VmHWM), in MiB. */
async function peakRssMiB(service: ServiceProcess): Promise<number> {
  const status = await readFile(`/proc/${service.child.pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
}

/**
 * CPU seconds (user + system) a running service has used so far, start-up and its heap-limit re-exec
 * included (execve keeps the process's times), from /proc (clock ticks of 1/100 s). Unlike rates,
 * CPU per row hardly depends on what else the machine runs.
 */
async function cpuSeconds(service: ServiceProcess): Promise<number> {
  return processCpuSeconds(service.child.pid!);
}

/** Follows a service's peak RSS while it runs, so it is known even after the process exited by itself. */
function watchPeakRss(service: ServiceProcess): () => number {
  return watchUsage(service).peakMiB;
}

/** A service's peak RSS and its CPU seconds as last seen, sampled every 200 ms until it exits (its /proc entry goes with it). */
function watchUsage(service: ServiceProcess): { peakMiB: () => number; cpuSeconds: () => number } {
  let peak = 0;
  let cpu = 0;
  const timer = setInterval(() => {
    Promise.all([peakRssMiB(service), cpuSeconds(service)]).then(
      ([mib, seconds]) => {
        peak = Math.max(peak, mib);
        cpu = seconds;
      },
      () => undefined,
    );
  }, 200);
  void service.exited.finally(() => clearInterval(timer));
  return { peakMiB: () => peak, cpuSeconds: () => cpu };
}

/** With BENCH_CPU_PROF: the top ten self-time functions of the exited service's profile. */
async function printProfile(service: ServiceProcess, label: string): Promise<void> {
  if (!PROFILE_DIR) return;
  await service.exited;
  // The service re-executes itself with its heap limit (same pid): the start-up process writes a profile too, the last one is the service's.
  const file = readdirSync(PROFILE_DIR)
    .filter((f) => f.includes(`.${service.child.pid}.`) && f.endsWith('.cpuprofile'))
    .sort()
    .at(-1);
  if (!file) return console.log(`  (no CPU profile of ${label} in ${PROFILE_DIR})`);
  console.log(`  CPU profile of ${label} (${PROFILE_DIR}/${file}), top self time:`);
  for (const { name, ms, share } of topSelfTime(`${PROFILE_DIR}/${file}`)) console.log(`    ${(share * 100).toFixed(1).padStart(5)}% ${ms.toFixed(0).padStart(7)} ms  ${name}`);
}

/**
 * Untimed: WARMUP_ROWS rows through a source and a sink of their own into a throwaway table and
 * index, WARMUP_DOCS of its documents written by the raw loader, then a wait until the stack is
 * quiet. The raw loader runs on an Elasticsearch that has indexed everything before it; on a
 * stack just started, the end-to-end run found one that had indexed nothing and spent 219 µs of
 * CPU a document, against 57 during the loader's run. After warm-ups of 200,000 and 600,000 rows
 * through the pipeline it still spent 90 (the loader 37–42), after 1,000,000 documents by the
 * loader 65 (the loader 40): the JVM compiles its indexing path for longer than a pipeline pass
 * of reasonable length takes, and the loader warms it faster.
 */
async function warmStack(): Promise<void> {
  const { pipeline, conn } = await benchTable();
  await Promise.all([pipeline.startSource(), pipeline.startSink()]);
  await insertRows(conn, WARMUP_ROWS);
  const index = pipeline.indexOf('events');
  await untilIndexed(pipeline.sink!, index, WARMUP_ROWS, undefined, [pipeline.source!]);
  await pipeline.stopAll();
  await conn.end();
  const started = performance.now();
  const docs = await dumpIndex(index);
  for (let written = 0; written < WARMUP_DOCS && docs.size > 0; written += docs.size) await rawLoader(index, docs, false);
  await es('DELETE', `/${index}`);
  const { busy, quiet } = await untilStackQuiet();
  console.log(
    `  stack warm-up (untimed): ${WARMUP_ROWS} rows end to end, ${WARMUP_DOCS} documents by the raw loader, then ${quiet ? 'quiet' : 'still busy'} ${((performance.now() - started) / 1000).toFixed(0)} s after the rows (${(busy * 100).toFixed(0)} % of a core)`,
  );
}

/** Waits (at most five minutes) until the stack's processes use under a tenth of a core. */
async function untilStackQuiet(): Promise<{ busy: number; quiet: boolean }> {
  const deadline = performance.now() + 300_000;
  for (;;) {
    const before = await cpuByProcess({});
    await sleep(2000);
    const after = await cpuByProcess({});
    const busy = [...after].reduce((sum, [name, value]) => sum + value - (before.get(name) ?? value), 0) / 2;
    if (busy < 0.1 || performance.now() > deadline) return { busy, quiet: busy < 0.1 };
  }
}

async function endToEnd(): Promise<{
  rate: number;
  warmRate: number;
  index: string;
  seconds: number;
  pipeline: Pipeline;
  sinkPeakMiB: number;
  sourcePeakMiB: number;
  cpuUs: { source: number; sink: number };
}> {
  const { pipeline, conn } = await benchTable();
  const sourcePeak = watchPeakRss(await pipeline.startSource());
  await pipeline.startSink();
  const index = pipeline.indexOf('events');
  const services = { source: pipeline.source!, sink: pipeline.sink! };
  const cpuBefore = await cpuByProcess(services);
  const started = performance.now();
  await insertRows(conn);
  const inserted = performance.now();
  await untilIndexed(pipeline.sink!, index, ROWS, undefined, [pipeline.source!]);
  const seconds = (performance.now() - started) / 1000;
  console.log(`  CPU while it ran: ${cpuShares(cpuBefore, await cpuByProcess(services), ROWS, seconds)}`);
  const { chunks, records } = await sinkChunks(pipeline.sink!);
  console.log(
    `  inserts took ${((inserted - started) / 1000).toFixed(1)} s; everything searchable after ${seconds.toFixed(1)} s; the sink wrote ${chunks} chunks of ${(records / chunks).toFixed(0)} records on average`,
  );
  const sinkPeakMiB = await peakRssMiB(pipeline.sink!);
  const sourcePeakMiB = Math.max(sourcePeak(), await peakRssMiB(pipeline.source!));
  const cpuUs = { source: ((await cpuSeconds(pipeline.source!)) * 1e6) / ROWS, sink: ((await cpuSeconds(pipeline.sink!)) * 1e6) / ROWS };
  // As many rows again into the same table, the services still running: warmed up (compiled code,
  // the table's topic, schema and index in place) as the raw loader is before it is timed.
  const warmCpuBefore = await cpuByProcess(services);
  const warmStarted = performance.now();
  await insertRows(conn, ROWS, ROWS);
  await untilIndexed(pipeline.sink!, index, 2 * ROWS, undefined, [pipeline.source!]);
  const warmSeconds = (performance.now() - warmStarted) / 1000;
  const warm = await sinkChunks(pipeline.sink!);
  console.log(
    `  warm: ${ROWS} more rows into the same table searchable after ${warmSeconds.toFixed(1)} s; the sink wrote ${warm.chunks - chunks} chunks of ${((warm.records - records) / (warm.chunks - chunks)).toFixed(0)} records on average; CPU while it ran: ${cpuShares(warmCpuBefore, await cpuByProcess(services), ROWS, warmSeconds)}`,
  );
  if (PROFILE_DIR) {
    // Gracefully, so that CPU profiles are written.
    await Promise.all([pipeline.source!.stop('SIGTERM'), pipeline.sink!.stop('SIGTERM')]);
    await printProfile(pipeline.source!, 'source end to end');
    await printProfile(pipeline.sink!, 'sink end to end');
  }
  await pipeline.stopAll();
  await conn.end();
  return { rate: ROWS / seconds, warmRate: ROWS / warmSeconds, index, seconds, pipeline, sinkPeakMiB, sourcePeakMiB, cpuUs };
}

/** A fresh sink group over the end-to-end run's topic, into its own index: docs/s from process start, and steady (first document to last). */
async function sinkOnly(pipeline: Pipeline): Promise<{ rate: number; steadyRate: number; peakMiB: number; cpuUs: { total: number; steady: number } }> {
  const index = `${pipeline.indexOf('events')}_sinkonly`;
  const stackBefore = await cpuByProcess({});
  const started = performance.now();
  const sink = startService('sink', pipeline.sinkEnv({ SINK_GROUP_ID: uniqueName('bench_sink'), INDEX_NAME_TEMPLATE: index }));
  let first: { at: number; docs: number; cpu: number } | undefined;
  await untilIndexed(sink, index, ROWS, async (docs) => {
    if (docs > 0) first ??= { at: performance.now(), docs, cpu: await cpuSeconds(sink) };
  });
  const ended = performance.now();
  console.log(`  sink alone: CPU while it ran: ${cpuShares(stackBefore, await cpuByProcess({ sink }), ROWS, (ended - started) / 1000)}`);
  const peakMiB = await peakRssMiB(sink);
  const cpu = await cpuSeconds(sink);
  const cpuUs = { total: (cpu * 1e6) / ROWS, steady: first ? ((cpu - first.cpu) * 1e6) / (ROWS - first.docs) : Number.NaN };
  // Gracefully, so that a CPU profile is written.
  await sink.stop('SIGTERM');
  await printProfile(sink, 'sink alone');
  await es('DELETE', `/${index}`);
  const steadyRate = first && ended > first.at ? (ROWS - first.docs) / ((ended - first.at) / 1000) : Number.NaN;
  return { rate: ROWS / ((ended - started) / 1000), steadyRate, peakMiB, cpuUs };
}

async function rawLoader(sourceIndex: string, docs: Awaited<ReturnType<typeof dumpIndex>>, report = true): Promise<{ rate: number; cpuUs: number }> {
  const env = stackEnv();
  const client = new Client({
    node: env.ELASTICSEARCH_URL,
    auth: { username: env.ELASTICSEARCH_USERNAME, password: env.ELASTICSEARCH_PASSWORD },
    tls: { ca: readFileSync(env.ELASTICSEARCH_SSL_CA_FILE) },
  });
  const target = `${sourceIndex}_raw_${Date.now()}`;
  const mapping = (await es('GET', `/${sourceIndex}/_mapping`)).body as Record<string, { mappings: unknown }>;
  await client.indices.create({ index: target, mappings: Object.values(mapping)[0]!.mappings as never, settings: { index: { gc_deletes: '1d' } } });
  const all = [...docs.values()];
  const stackBefore = await cpuByProcess({});
  const started = performance.now();
  const cpuBefore = process.cpuUsage();
  // As many requests in flight as the sink keeps per partition (SINK_BULKS_IN_FLIGHT's default), bodies sent as NDJSON text like the sink's.
  let next = 0;
  const worker = async () => {
    while (next < all.length) {
      const i = next;
      next += BULK;
      let body = '';
      for (const doc of all.slice(i, i + BULK)) {
        body += `{"index":{"_index":"${target}","_id":${JSON.stringify(doc.id)},"version":${doc.version},"version_type":"external"}}\n${JSON.stringify(doc.source)}\n`;
      }
      const response = await client.bulk({ operations: body as never, refresh: false, filter_path: 'errors,items.*.status,items.*.error.type,items.*.error.reason' });
      if (response.errors) throw new Error('raw loader: bulk errors');
    }
  };
  await Promise.all(Array.from({ length: BULKS_IN_FLIGHT }, worker));
  await client.indices.refresh({ index: target });
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (report) console.log(`  raw loader: ${all.length} docs in ${seconds.toFixed(1)} s; CPU while it ran: ${cpuShares(stackBefore, await cpuByProcess({}), all.length, seconds)}`);
  await client.indices.delete({ index: target });
  return { rate: all.length / seconds, cpuUs: (cpu.user + cpu.system) / all.length };
}

/**
 * Committed row changes of a running source, and when (on this process's clock) it committed the
 * last of them, both from one read of its metrics: timing a run by when a poll first sees it done
 * would add up to a poll's interval, as much as a third of a short run.
 */
async function committedEvents(source: ServiceProcess): Promise<{ events: number; at: number }> {
  const metrics = (await source.http('/metrics')).body;
  const events = [...metrics.matchAll(/^cdc_source_events_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const committedAt = Number(/^cdc_source_last_transaction_timestamp_seconds ([\d.e+]+)/m.exec(metrics)?.[1] ?? 0);
  return { events, at: committedAt * 1000 - performance.timeOrigin };
}

/** Reading alone twice, the cheaper run kept: the first runs code not yet optimised, and the ceiling it sets should be generous. */
async function twiceAlone(read: () => Promise<ReadFigure>): Promise<ReadFigure> {
  const [a, b] = [await read(), await read()];
  return a.readerUs <= b.readerUs ? a : b;
}

/** Kafka transactions a running source has committed. */
async function committedTransactions(source: ServiceProcess): Promise<number> {
  return Number(/^cdc_source_kafka_transactions_total(?:\{[^}]*\})? (\d+)/m.exec((await source.http('/metrics')).body)?.[1] ?? 0);
}

/**
 * The source alone, catching up: it starts once (storing its position), stops, the rows are
 * inserted, and it starts again. Timed from that second process start (what an operator waits)
 * and in steady state, from its first committed change to its last (what the bare producer's
 * figure, taken after its connect, compares with). Not timed while the rows are inserted: then
 * MariaDB's insert rate, not the source, would bound the figure.
 */
async function sourceOnly(
  env: Record<string, string>,
  rows = ROWS,
  label = 'source',
): Promise<{
  rate: number;
  steadyRate: number;
  topic: string;
  pipeline: Pipeline;
  peakMiB: number;
  cpuUs: { total: number; steady: number };
  transactions: number;
  binlogFrom: { file: string; pos: number };
}> {
  const { pipeline, conn } = await benchTable();
  await (await pipeline.startSource(env)).stop('SIGTERM');
  const [status] = await conn.query('SHOW MASTER STATUS');
  const { File: file, Position: pos } = (status as Array<{ File: string; Position: number }>)[0]!;
  await insertRows(conn, rows);
  const started = performance.now();
  const source = startService('source', pipeline.sourceEnv(env));
  pipeline.source = source;
  const peak = watchPeakRss(source);
  let first: { at: number; events: number; cpu: number } | undefined;
  let ended = Number.NaN;
  for (let events = 0; events < rows; await sleep(pollDelayMs(events, rows))) {
    assertAlive(source);
    const committed = await committedEvents(source).catch(() => ({ events: 0, at: Number.NaN }));
    events = committed.events;
    ended = committed.at;
    if (events > 0) first ??= { at: committed.at, events, cpu: await cpuSeconds(source) };
  }
  const peakMiB = Math.max(peak(), await peakRssMiB(source));
  const cpu = await cpuSeconds(source);
  const cpuUs = { total: (cpu * 1e6) / rows, steady: first ? ((cpu - first.cpu) * 1e6) / (rows - first.events) : Number.NaN };
  const transactions = await committedTransactions(source);
  // Gracefully, so that a CPU profile is written.
  await source.stop('SIGTERM');
  await printProfile(source, label);
  await conn.end();
  const steadyRate = first && ended > first.at ? (rows - first.events) / ((ended - first.at) / 1000) : Number.NaN;
  return { rate: rows / ((ended - started) / 1000), steadyRate, topic: pipeline.topicOf('events'), pipeline, peakMiB, cpuUs, transactions, binlogFrom: { file, pos: Number(pos) } };
}

/** Bytes of a (one-partition) topic's log segments on the broker's disk. */
function topicBytes(topic: string): number {
  const dir = `${stackEnv().CDC_STACK_DIR}/kafka/data/${topic}-0`;
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .reduce((n, f) => n + statSync(`${dir}/${f}`).size, 0);
}

/** Source alone with each KAFKA_COMPRESSION: rows/s and bytes on disk, each ÷ the uncompressed run's. */
async function compressionBench(): Promise<void> {
  const rows = Number(process.env.BENCH_COMPRESSION_ROWS ?? 50_000);
  await sourceOnly({}, Math.min(rows, 10_000)); // warm-up
  const results = new Map<string, { rate: number; bytes: number }>();
  for (const codec of ['none', 'gzip', 'snappy', 'lz4', 'zstd']) {
    const run = await sourceOnly({ KAFKA_COMPRESSION: codec }, rows);
    results.set(codec, { rate: run.rate, bytes: topicBytes(run.topic) });
  }
  const none = results.get('none')!;
  for (const [codec, { rate, bytes }] of results) {
    console.log(
      `KAFKA_COMPRESSION=${codec.padEnd(6)} ${rate.toFixed(0).padStart(7)} rows/s (${(rate / none.rate).toFixed(3)} of none), ${(bytes / 1048576).toFixed(1).padStart(6)} MiB on disk (${(bytes / none.bytes).toFixed(3)} of none)`,
    );
  }
}

/** Key and value bytes per record of a topic. */
async function bytesPerRecord(topic: string): Promise<number> {
  let records = 0;
  let bytes = 0;
  await readTopicToEnd(
    testKafka(),
    topic,
    (m) => {
      records++;
      bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0);
    },
    { timeoutMs: 300_000 },
  );
  return bytes / records;
}

async function converters(): Promise<void> {
  const results = new Map<string, { rate: number; bytes: number; sink: number }>();
  for (const converter of ['avro', 'json']) {
    const run = await sourceOnly({ VALUE_CONVERTER: converter });
    const bytes = await bytesPerRecord(run.topic);
    const sink = await sinkOnly(run.pipeline);
    results.set(converter, { rate: run.rate, bytes, sink: sink.rate });
    console.log(`VALUE_CONVERTER=${converter}: source → Kafka ${run.rate.toFixed(0)} rows/s, ${bytes.toFixed(0)} bytes per event (key + value), sink ${sink.rate.toFixed(0)} docs/s`);
  }
  const avro = results.get('avro')!;
  const json = results.get('json')!;
  console.log(`ratio json ÷ avro: source rows/s ${(json.rate / avro.rate).toFixed(3)}, bytes per event ${(json.bytes / avro.bytes).toFixed(2)}, sink docs/s ${(json.sink / avro.sink).toFixed(3)}`);
}

/** Single-row updates of random rows until `until` settles; each statement's latency. */
async function writerLatencies(conn: Awaited<ReturnType<typeof rootConnection>>, rows: number, until: Promise<unknown>): Promise<number[]> {
  const latencies: number[] = [];
  let done = false;
  void until.finally(() => (done = true));
  while (!done) {
    const started = performance.now();
    await conn.query('UPDATE events SET flags = flags + 1 WHERE id = ?', [Math.floor(Math.random() * rows)]);
    latencies.push(performance.now() - started);
  }
  return latencies;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length * 0.99)] ?? 0;
}

/**
 * One initial snapshot of the bench table into Kafka under `sourceEnv` (a SOURCE_ID and topic
 * prefix of its own), timed from process start to the source's exit; `during` runs meanwhile.
 */
async function snapshotRun<T>(
  sourceEnv: Record<string, string>,
  during: (exited: Promise<number | null>) => Promise<T>,
): Promise<{ rate: number; steadyRate: number; peakMiB: number; cpuUs: number; cpuShares: string; source: ServiceProcess; result: T }> {
  const stackBefore = await cpuByProcess({});
  const started = performance.now();
  const source = startService('source', { ...sourceEnv, SNAPSHOT_MODE: 'initial_only', SNAPSHOT_CHUNK_ROWS: String(SNAPSHOT_TRANSACTION_ROWS) });
  const usage = watchUsage(source);
  const result = await during(source.exited);
  if ((await source.exited) !== 0)
    throw new Error(
      `snapshot source failed: ${source.lines
        .slice(-3)
        .map((l) => l.raw)
        .join('\n')}`,
    );
  // The snapshot proper, from its read view to its last commit, by the source's own log: what the
  // bare producer's figure (taken after its connect) compares with.
  const loggedAt = (msg: string) => Date.parse(String(source.lines.find((l) => l.msg === msg)?.time));
  const steadySeconds = (loggedAt('snapshot complete; streaming from its position') - loggedAt('starting snapshot')) / 1000;
  const seconds = (performance.now() - started) / 1000;
  // The source has exited: its CPU is the last its /proc entry showed.
  const stackAfter = new Map([...(await cpuByProcess({})), ['source', usage.cpuSeconds()]]);
  return {
    rate: SNAPSHOT_ROWS / seconds,
    steadyRate: SNAPSHOT_ROWS / steadySeconds,
    peakMiB: usage.peakMiB(),
    cpuUs: (usage.cpuSeconds() * 1e6) / SNAPSHOT_ROWS,
    cpuShares: cpuShares(stackBefore, stackAfter, SNAPSHOT_ROWS, seconds),
    source,
    result,
  };
}

/**
 * The snapshot twice: alone on the machine, as the bare producer and mariadb-dump run (the
 * ratios), then with a writer updating single rows as fast as it can (what the snapshot costs
 * the database's writers, and its rate under that load: the writer and MariaDB take CPU from it).
 */
async function snapshotBench(): Promise<void> {
  const { pipeline, conn } = await benchTable();
  await insertRows(conn, SNAPSHOT_ROWS);
  const env = stackEnv();
  const dumpStarted = performance.now();
  const dump = spawnSync('mariadb-dump', ['--single-transaction', '-h', env.MYSQL_HOST, '-P', env.MYSQL_PORT, '-u', 'root', `-p${env.MYSQL_ROOT_PASSWORD}`, pipeline.database, 'events'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 1 << 20,
  });
  if (dump.status !== 0) throw new Error(`mariadb-dump failed: ${dump.stderr}`);
  const dumpRate = SNAPSHOT_ROWS / ((performance.now() - dumpStarted) / 1000);
  const alone = await snapshotRun(pipeline.sourceEnv(), (exited) => exited);
  const read = await twiceAlone(() => snapshotReadAlone(pipeline.database, 'events', SNAPSHOT_TRANSACTION_ROWS));
  const { bare, writer: eos } = await producerBaselines(pipeline.topicOf('events'), 3, SNAPSHOT_TRANSACTION_ROWS);
  console.log(
    `snapshot of ${SNAPSHOT_ROWS} rows into Kafka (acknowledged): ${alone.rate.toFixed(0)} rows/s from process start, ${alone.steadyRate.toFixed(0)} rows/s from its read view to its last commit; source peak RSS ${alone.peakMiB.toFixed(0)} MiB, CPU ${alone.cpuUs.toFixed(1)} µs a row (start-up included)`,
  );
  console.log(`  CPU while it ran: ${alone.cpuShares}`);
  await printProfile(alone.source, 'snapshot source');
  console.log(
    `  ÷ bare producer (${bare.rate.toFixed(0)} records/s): ${(alone.rate / bare.rate).toFixed(3)} from process start, ${(alone.steadyRate / bare.rate).toFixed(3)} from the read view; ÷ mariadb-dump --single-transaction to /dev/null (${dumpRate.toFixed(0)} rows/s): ${(alone.rate / dumpRate).toFixed(3)}`,
  );
  for (const line of budgetLines(bare, eos, SNAPSHOT_TRANSACTION_ROWS, alone.steadyRate, { ...read, what: 'the same read view and chunks into canonical rows' })) console.log(`  ${line}`);
  const writer = await rootConnection(pipeline.database);
  const quiet = await writerLatencies(writer, SNAPSHOT_ROWS, sleep(5000));
  const loaded = await snapshotRun(pipeline.sourceEnv({ SOURCE_ID: uniqueName('src'), TOPIC_PREFIX: uniqueName('t').toLowerCase() }), (exited) => writerLatencies(writer, SNAPSHOT_ROWS, exited));
  const during = loaded.result;
  await writer.end();
  await conn.end();
  console.log(
    `  with a writer updating rows meanwhile: ${loaded.rate.toFixed(0)} rows/s (${(loaded.rate / alone.rate).toFixed(3)} of alone); writer p99 latency ${p99(during).toFixed(2)} ms ÷ without a snapshot ${p99(quiet).toFixed(2)} ms = ${(p99(during) / p99(quiet)).toFixed(2)} (max during ${during.reduce((max, ms) => Math.max(max, ms), 0).toFixed(1)} ms)`,
  );
}

/** SIGKILL the source, start a successor at once, and time until it committed a new change. */
async function recovery(): Promise<number> {
  const { pipeline, conn } = await benchTable();
  await pipeline.startSource();
  await conn.query("INSERT INTO events VALUES (1, 'a', 1, 'debit', NULL, '2024-01-01', 0, 0)");
  while ((await committedEvents(pipeline.source!)).events < 1) await sleep(50);
  const killed = performance.now();
  await pipeline.source!.stop('SIGKILL');
  await conn.query("INSERT INTO events VALUES (2, 'a', 1, 'debit', NULL, '2024-01-01', 0, 0)");
  const successor = startService('source', pipeline.sourceEnv());
  pipeline.source = successor;
  for (;;) {
    assertAlive(successor);
    if (
      await successor
        .http('/metrics')
        .then(async () => (await committedEvents(successor)).events >= 1)
        .catch(() => false)
    )
      break;
    await sleep(50);
  }
  const seconds = (performance.now() - killed) / 1000;
  await pipeline.stopAll();
  await conn.end();
  return seconds;
}

/** One INSERT … SELECT of BENCH_BIGTX_ROWS rows, a single binlog transaction, through source and sink. */
async function bigTransaction(): Promise<void> {
  const rows = Number(process.env.BENCH_BIGTX_ROWS ?? 1_000_000);
  const { pipeline, conn } = await benchTable();
  const source = await pipeline.startSource();
  const sourcePeak = watchPeakRss(source);
  const sink = await pipeline.startSink();
  const index = pipeline.indexOf('events');
  await conn.query(
    `INSERT INTO events SELECT seq, concat('acct-', seq % 977), (seq % 100000) / 100, if(seq % 2, 'debit', 'credit'), concat('note ', seq), '2024-05-06 07:08:09.123456', seq / 7, seq % 13 FROM seq_1_to_${rows}`,
  );
  const committed = performance.now();
  await untilIndexed(sink, index, rows, undefined, [source]);
  const seconds = (performance.now() - committed) / 1000;
  console.log(
    `one ${rows}-row transaction, from its commit until searchable: ${(rows / seconds).toFixed(0)} rows/s (${seconds.toFixed(1)} s); source peak RSS ${Math.max(sourcePeak(), await peakRssMiB(source)).toFixed(0)} MiB, sink ${(await peakRssMiB(sink)).toFixed(0)} MiB`,
  );
  await pipeline.stopAll();
  await conn.end();
}

/** End-to-end rows/s of this run's e2e part, when it ran. */
let e2eRate: number | undefined;

/**
 * Single-row transactions at half the end-to-end rate; each row's time from its commit (the
 * INSERT returned) until a search finds it, polled every 50 ms.
 */
async function latency(): Promise<void> {
  const rate = e2eRate ? e2eRate / 2 : Number(process.env.BENCH_LATENCY_RATE ?? 2000);
  const seconds = Number(process.env.BENCH_LATENCY_SECONDS ?? 30);
  const { pipeline, conn } = await benchTable();
  const source = await pipeline.startSource();
  const sourcePeak = watchPeakRss(source);
  await pipeline.startSink();
  const index = pipeline.indexOf('events');
  const pending = new Map<number, number>();
  const latencies: number[] = [];
  let writing = true;
  const writer = (async () => {
    const started = performance.now();
    for (let id = 0; performance.now() - started < seconds * 1000; id++) {
      const due = started + (id * 1000) / rate;
      if (due > performance.now()) await sleep(due - performance.now());
      await conn.query("INSERT INTO events VALUES (?, 'acct', 1.00, 'debit', NULL, '2024-05-06 07:08:09', 0, 0)", [id]);
      pending.set(id, performance.now());
    }
    writing = false;
  })();
  while (writing || pending.size > 0) {
    await sleep(50);
    assertAlive(source, pipeline.sink!);
    const ids = [...pending.keys()].slice(0, 5000);
    if (ids.length === 0) continue;
    const found = await es('POST', `/${index}/_search`, { size: ids.length, _source: false, query: { ids: { values: ids.map(String) } } });
    const now = performance.now();
    if (found.status !== 200) continue;
    for (const hit of (found.body as { hits: { hits: Array<{ _id: string }> } }).hits.hits) {
      const id = Number(hit._id);
      const at = pending.get(id);
      if (at === undefined) continue;
      latencies.push(now - at);
      pending.delete(id);
    }
  }
  await writer;
  const sorted = latencies.sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
  console.log(
    `commit → searchable at ${rate.toFixed(0)} rows/s (half the end-to-end rate), ${sorted.length} rows: p50 ${at(0.5).toFixed(0)} ms, p99 ${at(0.99).toFixed(0)} ms, max ${sorted.at(-1)?.toFixed(0)} ms; source peak RSS ${sourcePeak().toFixed(0)} MiB`,
  );
  await pipeline.stopAll();
  await conn.end();
}

console.log(`cdc bench: ${ROWS} rows, ${TX_ROWS}-row transactions, bulk ${BULK} (${BULKS_IN_FLIGHT} in flight); parts ${[...ONLY].join(',')}`);
// Sampling costs the profiled services about half as much CPU again (the snapshot: 11.2 µs a row
// profiled, 7.8–8.0 without, same code and machine), so their rates and ratios are not the figures.
if (PROFILE_DIR) console.log(`CPU profiles go to ${PROFILE_DIR}; the profiler slows the services: take rates and ratios from a run without BENCH_CPU_PROF`);
if (ONLY.has('e2e')) {
  await warmStack();
  const e2e = await endToEnd();
  // The documents of the cold run's rows: the loader writes what the end-to-end figure timed.
  const docs = new Map([...(await dumpIndex(e2e.index))].filter(([id]) => Number(id) < ROWS));
  await rawLoader(e2e.index, new Map([...docs].slice(0, 20_000))); // warm the JVM for the baseline too
  const { rate: raw, cpuUs: rawCpuUs } = await rawLoader(e2e.index, docs);
  console.log(`end to end (MariaDB → source → Kafka → sink → Elasticsearch): ${e2e.rate.toFixed(0)} rows/s`);
  console.log(`raw bulk loader (same docs, ids, external versions):            ${raw.toFixed(0)} docs/s`);
  console.log(`ratio end-to-end ÷ raw loader: ${(e2e.rate / raw).toFixed(3)}`);
  console.log(`end to end, warm (services running, table known): ${e2e.warmRate.toFixed(0)} rows/s; ÷ raw loader ${(e2e.warmRate / raw).toFixed(3)}`);
  const sinkAlone = await sinkOnly(e2e.pipeline);
  console.log(`sink alone (pre-filled topic → Elasticsearch): ${sinkAlone.rate.toFixed(0)} docs/s from process start, ${sinkAlone.steadyRate.toFixed(0)} docs/s steady`);
  console.log(`ratio sink alone ÷ raw loader: ${(sinkAlone.rate / raw).toFixed(3)} from process start, ${(sinkAlone.steadyRate / raw).toFixed(3)} steady`);
  console.log(`sink peak RSS: ${e2e.sinkPeakMiB.toFixed(0)} MiB end to end, ${sinkAlone.peakMiB.toFixed(0)} MiB alone; source peak RSS ${e2e.sourcePeakMiB.toFixed(0)} MiB end to end`);
  console.log(
    `CPU per row: source ${e2e.cpuUs.source.toFixed(0)} µs and sink ${e2e.cpuUs.sink.toFixed(0)} µs end to end (start-up included); sink alone ${sinkAlone.cpuUs.total.toFixed(0)} µs, ${sinkAlone.cpuUs.steady.toFixed(0)} µs steady; the raw loader's own ${rawCpuUs.toFixed(1)} µs per doc (documents already built)`,
  );
  e2eRate = e2e.rate;
}
if (ONLY.has('source')) {
  // Rounds of exactly-once, its bare producer and at-least-once, each ratio taken within its round:
  // on one machine the bare producer alone ranged from 300,000 to 580,000 records/s between runs.
  const rounds: Array<{
    eos: Awaited<ReturnType<typeof sourceOnly>>;
    alo: Awaited<ReturnType<typeof sourceOnly>>;
    bare: ProducerFigure;
    writer: ProducerFigure;
    read: ReadFigure;
    perTransaction: number;
  }> = [];
  for (let round = 1; round <= SOURCE_ROUNDS; round++) {
    const eos = await sourceOnly({ EXACTLY_ONCE: 'true' }, ROWS, 'exactly-once source');
    // The writer alone commits transactions of the size the source committed.
    const perTransaction = Math.round(ROWS / Math.max(1, eos.transactions));
    const { bare, writer } = await producerBaselines(eos.topic, 1, perTransaction);
    const read = await twiceAlone(() => binlogReadAlone(eos.binlogFrom, eos.pipeline.database, ROWS));
    const alo = await sourceOnly({ EXACTLY_ONCE: 'false' }, ROWS, 'at-least-once source');
    rounds.push({ eos, alo, bare, writer, read, perTransaction });
    console.log(
      `  round ${round}: exactly-once ${eos.rate.toFixed(0)} rows/s from process start, ${eos.steadyRate.toFixed(0)} steady; at-least-once ${alo.rate.toFixed(0)}, ${alo.steadyRate.toFixed(0)} steady; bare producer ${bare.rate.toFixed(0)} records/s; exactly-once writer alone ${writer.rate.toFixed(0)} records/s (${perTransaction} a transaction); binlog reading alone ${read.rate.toFixed(0)} rows/s; peak RSS ${eos.peakMiB.toFixed(0)} / ${alo.peakMiB.toFixed(0)} MiB; CPU ${eos.cpuUs.total.toFixed(0)} µs a row (${eos.cpuUs.steady.toFixed(0)} steady) / ${alo.cpuUs.total.toFixed(0)} (${alo.cpuUs.steady.toFixed(0)})`,
    );
  }
  const of = (pick: (r: (typeof rounds)[number]) => number) => median(rounds.map(pick)).toFixed(3);
  const rate = (pick: (r: (typeof rounds)[number]) => number) => median(rounds.map(pick)).toFixed(0);
  console.log(`source → Kafka catching up ${ROWS} rows, medians of ${rounds.length} rounds:`);
  console.log(`  exactly-once (transactions): ${rate((r) => r.eos.rate)} rows/s from process start, ${rate((r) => r.eos.steadyRate)} rows/s steady`);
  console.log(`  at-least-once (EXACTLY_ONCE=false): ${rate((r) => r.alo.rate)} rows/s from process start, ${rate((r) => r.alo.steadyRate)} rows/s steady`);
  console.log(`  bare kafkajs producer, same encoded records, no transactions: ${rate((r) => r.bare.rate)} records/s`);
  console.log(
    `ratio exactly-once ÷ bare producer: ${of((r) => r.eos.rate / r.bare.rate)} from process start, ${of((r) => r.eos.steadyRate / r.bare.rate)} steady; at-least-once ÷ bare producer: ${of((r) => r.alo.rate / r.bare.rate)}, ${of((r) => r.alo.steadyRate / r.bare.rate)} steady`,
  );
  const middle = rounds.toSorted((a, b) => a.eos.steadyRate / a.bare.rate - b.eos.steadyRate / b.bare.rate)[Math.floor(rounds.length / 2)]!;
  for (const line of budgetLines(middle.bare, middle.writer, middle.perTransaction, middle.eos.steadyRate, {
    ...middle.read,
    what: "the binlog from before the inserts through the source's reader into canonical changes",
  }))
    console.log(`  median round's ${line}`);
  console.log(`source peak RSS (highest of the rounds): ${best(rounds.map((r) => r.eos.peakMiB)).toFixed(0)} MiB exactly-once, ${best(rounds.map((r) => r.alo.peakMiB)).toFixed(0)} MiB at-least-once`);
}
if (ONLY.has('bigtx')) await bigTransaction();
if (ONLY.has('latency')) await latency();
if (ONLY.has('snapshot')) await snapshotBench();
if (ONLY.has('compression')) await compressionBench();
if (ONLY.has('converters')) await converters();
if (ONLY.has('recovery')) {
  const recoveries = [];
  for (let i = 0; i < 3; i++) recoveries.push(await recovery());
  console.log(`SIGKILL → successor committed a new change: ${recoveries.map((s) => s.toFixed(2)).join(', ')} s`);
}
if (ONLY.has('transforms')) await transformsBench();
if (ONLY.has('documents')) await documentsBench();
if (ONLY.has('tables')) await tablesBench();
process.exit(0);
