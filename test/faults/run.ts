import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { readTopic } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { within } from '../helpers/wait.ts';
import { startBulk429Proxy } from './bulk-429-proxy.ts';
import { checkDeadLetters, checkExits, checkKafka, compareTables, Findings, type TableComparison } from './check.ts';
import { type ExitRecord, Slot } from './cluster.ts';
import { FAULT_KINDS, type FaultContext, type FaultKind, healAll, inject, type Poison } from './faults.ts';
import { Random } from './random.ts';
import { DDL_STEP_COUNT, Workload, type WorkloadStats, workloadTables } from './workload.ts';

export interface FaultRunOptions {
  seed: number;
  /** Inject faults for this long (the first round, one fault of each kind, always completes)… */
  seconds?: number;
  /** …or exactly this many faults. */
  faults?: number;
  /** Only these kinds (default: all). */
  kinds?: readonly FaultKind[];
  /** Rows of the workload's one large transaction. */
  largeTransactionRows: number;
  /** Bound of every wait for convergence (after each fault, and at the end). */
  convergeSeconds: number;
  /** Extra source environment (e.g. EXACTLY_ONCE=false to show what the check catches). */
  sourceEnv?: Record<string, string>;
  log: (line: string) => void;
}

export interface InjectedFault {
  kind: FaultKind;
  detail: string;
  /** From the end of the fault until a change made then is in Elasticsearch; undefined: not within the bound. */
  convergeMs: number | undefined;
}

export interface FaultReport {
  seed: number;
  faults: InjectedFault[];
  workload: WorkloadStats;
  comparison: Pick<TableComparison, 'rows' | 'columns'>;
  kafkaChanges: number;
  /** Letters in the dead-letter topic, and how many of them repeat an earlier one's origin (at-least-once redelivery). */
  deadLetters: { letters: number; redelivered: number };
  exits: ExitRecord[];
  findings: Findings;
}

/**
 * Which fault comes next: one of each kind first (shuffled), then any kind, restarts of the slow
 * JVM services (Kafka, Elasticsearch: minutes on a loaded machine) half as often as the others.
 */
function schedule(rng: Random, options: FaultRunOptions, started: number): () => FaultKind | undefined {
  const kinds = options.kinds ?? FAULT_KINDS;
  const firstRound = rng.shuffle(kinds);
  const slow = new Set<FaultKind>(['kafka-restart', 'kafka-kill9-in-transaction', 'elasticsearch-restart']);
  const weighted = kinds.flatMap((k) => (slow.has(k) ? [k] : [k, k]));
  let count = 0;
  return () => {
    if (options.faults !== undefined && count >= options.faults) return undefined;
    if (options.faults === undefined && count >= firstRound.length && Date.now() - started >= (options.seconds ?? 0) * 1000) return undefined;
    const kind = count < firstRound.length ? firstRound[count]! : rng.pick(weighted);
    count += 1;
    return kind;
  };
}

/** Waits until every canary row carries `tag` (or a later one) in Elasticsearch; false past the bound. */
async function converged(workload: Workload, index: string, tag: string, boundMs: number): Promise<boolean> {
  const deadline = Date.now() + boundMs;
  const ids = workload.canaryIds();
  while (Date.now() < deadline) {
    try {
      const docs = await dumpIndex(index);
      if (ids.every((id) => Number(docs.get(id)?.source.n ?? 0) >= Number(tag))) return true;
    } catch {
      // Elasticsearch still starting
    }
    await sleep(250);
  }
  return false;
}

/**
 * A seeded fault-injection run: a source and two sinks (one group) on a fresh database, the
 * random workload, faults one after another (each healed, then the time to converge measured
 * with a canary change), and at the end, once everything has converged within the bound, the
 * strict check: MariaDB = Elasticsearch, versions, Kafka exactly once, dead letters, exits.
 */
export async function runFaults(options: FaultRunOptions): Promise<FaultReport> {
  const { log } = options;
  const rng = new Random(options.seed);
  const workloadRng = new Random(rng.int(0, 0xffffffff));
  const pipeline = new Pipeline(uniqueName('faults'));
  await freshDatabase(pipeline.database);
  const conn: mysql.Connection = await rootConnection(pipeline.database);
  conn.on('error', () => {});
  const workload = new Workload(pipeline.database, workloadTables(), workloadRng);
  await workload.create(conn);
  await conn.end();

  const proxy = await startBulk429Proxy(stackEnv().ELASTICSEARCH_URL, { everyNth: 0, timesPerId: 3 });
  const exits: ExitRecord[] = [];
  const sourceEnv = pipeline.sourceEnv({
    TOPIC_PARTITIONS: '2',
    TABLE_EXCLUDE: `${pipeline.database}\\.txlog`,
    HEARTBEAT_INTERVAL_MS: '1000',
    TXN_LINGER_MS: '20',
    ...options.sourceEnv,
  });
  const source = new Slot('source', 'source', () => sourceEnv, exits);
  // Two sinks in one group: a stopped one's partitions move to the other. The first reaches
  // Elasticsearch through the 429 proxy, the second directly (so a stopped Elasticsearch refuses its connections).
  const sinkEnv = { SINK_SESSION_TIMEOUT_MS: '10000' };
  const sinks = [new Slot('sink-a', 'sink', () => pipeline.sinkEnv({ ...sinkEnv, ELASTICSEARCH_URL: proxy.url }), exits), new Slot('sink-b', 'sink', () => pipeline.sinkEnv(sinkEnv), exits)];
  const poisons: Poison[] = [];
  const faults: InjectedFault[] = [];
  const findings = new Findings();
  const canaryIndex = pipeline.indexOf('canary');
  const boundMs = options.convergeSeconds * 1000;
  const pending: Array<Promise<unknown>> = [];
  let report: FaultReport | undefined;
  try {
    await source.ensureStarted();
    await Promise.all(sinks.map((s) => s.ensureStarted()));
    workload.start();
    if (!(await converged(workload, canaryIndex, await workload.probe(), boundMs))) throw new Error('the pipeline did not start flowing');
    log(`database ${pipeline.database}, topics ${pipeline.prefix}.*; workload running`);

    const ctx: FaultContext = {
      rng,
      seed: options.seed,
      source,
      sinks,
      proxy,
      workload,
      poisons,
      topics: () => workload.tables.filter((t) => t.name !== 'canary' && workload.changes.get(t.name)!.size > 0).map((t) => pipeline.topicOf(t.name)),
    };
    const next = schedule(rng, options, Date.now());
    for (let kind = next(), ordinal = 1; kind !== undefined; kind = next(), ordinal++) {
      // The workload's mid-stream events, at fixed points of the schedule: DDL steps and the large transaction.
      if (ordinal === 3 || ordinal === 6 || ordinal === 9) pending.push(workload.nextDdl().then((sql) => log(`  ddl: ${sql}`)));
      if (ordinal === 5) pending.push(workload.bigTransaction(options.largeTransactionRows).then(() => log(`  committed the ${options.largeTransactionRows}-row transaction`)));
      const started = Date.now();
      let detail: string;
      try {
        detail = await inject(kind, ctx);
      } catch (error) {
        findings.add('fault harness errors', `${kind}: ${(error as Error).message}`);
        detail = `failed: ${(error as Error).message}`;
        await healAll().catch(() => {});
      }
      const healed = Date.now();
      const fault: InjectedFault = { kind, detail, convergeMs: undefined };
      faults.push(fault);
      log(`#${ordinal} ${kind}: ${detail} (${((healed - started) / 1000).toFixed(1)} s)`);
      // Convergence is measured in the background: the next fault may come first, as in production.
      const measured = (async () => {
        const ok = await converged(workload, canaryIndex, await workload.probe(), boundMs);
        if (ok) fault.convergeMs = Date.now() - healed;
        else findings.add('no convergence after a fault', `#${ordinal} ${kind}: not within ${options.convergeSeconds} s`);
        log(`  #${ordinal} ${kind}: converged ${ok ? `in ${((Date.now() - healed) / 1000).toFixed(1)} s` : 'NOT'}`);
      })();
      pending.push(measured);
      await within(measured, rng.int(2_000, 10_000), undefined);
    }
    await Promise.all(pending);
    if (workload.stats.bigTransactionRows === 0) await workload.bigTransaction(options.largeTransactionRows); // a run of fewer than 5 faults
    if (workload.stats.ddlSteps < DDL_STEP_COUNT) for (let i = workload.stats.ddlSteps; i < DDL_STEP_COUNT; i++) log(`  ddl: ${await workload.nextDdl()}`);
    await workload.stopRandom();
    log(`workload stopped: ${workload.stats.transactions} transactions, ${workload.stats.changes} row changes; waiting for convergence`);
    await converged(workload, canaryIndex, await workload.probe(), boundMs);

    // The end check, once MariaDB and Elasticsearch agree (or the bound has passed).
    const deadline = Date.now() + boundMs;
    const dlqTopic = `${pipeline.prefix}.dlq`;
    let comparison: TableComparison;
    const readConn = await rootConnection(pipeline.database);
    try {
      for (;;) {
        try {
          comparison = await compareTables(readConn, workload, (t) => pipeline.indexOf(t));
        } catch (error) {
          // a service still (or again) unreachable: not converged yet
          if (Date.now() > deadline) throw error;
          log(`  not converged yet: ${(error as Error).message}`);
          await sleep(5_000);
          continue;
        }
        if (Date.now() > deadline) break;
        if (comparison.findings.total > 0) log(`  not converged yet: ${comparison.findings.total} differences (${[...comparison.findings.counts.keys()].join(', ')})`);
        if (comparison.findings.total === 0 && (await readTopic(dlqTopic, 60_000, { keepUndecodable: true })).length >= poisons.filter((p) => !p.ambiguous).length) break;
        await sleep(5_000);
      }
    } finally {
      await readConn.end();
    }
    findings.merge(comparison.findings);
    await workload.close();
    await Promise.all([source.close(), ...sinks.map((s) => s.close())]);
    const kafkaChanges = await checkKafka(workload, pipeline, comparison.docs, poisons, findings);
    const deadLetters = await checkDeadLetters(dlqTopic, poisons, findings);
    checkExits(exits, findings);
    report = { seed: options.seed, faults, workload: workload.stats, comparison: { rows: comparison.rows, columns: comparison.columns }, kafkaChanges, deadLetters, exits, findings };
    return report;
  } finally {
    await workload.close().catch(() => {});
    await Promise.all([source.close(), ...sinks.map((s) => s.close())]).catch(() => {});
    await proxy.close().catch(() => {});
    await healAll().catch((error: unknown) => log(`could not restore the stack: ${(error as Error).message}`));
  }
}

const percentile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;

/** The run's figures as printed lines: faults by kind with p50/p99 convergence, what was compared, every finding. */
export function formatReport(report: FaultReport): string[] {
  const lines: string[] = [];
  const w = report.workload;
  lines.push(
    `workload: ${w.transactions} transactions (${w.ambiguous} with a lost connection, ${w.rolledBack} rolled back), ${w.changes} row changes, large transaction ${w.bigTransactionRows} rows, ${w.ddlSteps} DDL steps`,
  );
  lines.push(`faults: ${report.faults.length}`);
  lines.push(`  ${'kind'.padEnd(28)} ${'count'.padStart(5)} ${'converge p50'.padStart(13)} ${'p99'.padStart(8)}`);
  for (const kind of FAULT_KINDS) {
    const of = report.faults.filter((f) => f.kind === kind);
    const times = of
      .map((f) => f.convergeMs)
      .filter((t): t is number => t !== undefined)
      .sort((a, b) => a - b);
    const fmt = (ms: number | undefined) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
    lines.push(
      `  ${kind.padEnd(28)} ${String(of.length).padStart(5)} ${fmt(times.length ? percentile(times, 0.5) : undefined).padStart(13)} ${fmt(times.length ? percentile(times, 0.99) : undefined).padStart(8)}`,
    );
  }
  lines.push(
    `compared: ${report.comparison.rows} rows, ${report.comparison.columns} columns (MariaDB vs Elasticsearch); ${report.kafkaChanges} changes in Kafka; ${report.deadLetters.letters} dead letters (${report.deadLetters.redelivered} redelivered)`,
  );
  lines.push(`service exits: ${report.exits.length} (${report.exits.filter((e) => !e.ok).length} unexpected)`);
  lines.push(`differences: ${report.findings.total}`);
  for (const [category, count] of report.findings.counts) {
    lines.push(`  ${category}: ${count}`);
    for (const sample of report.findings.samples.get(category) ?? []) lines.push(`    ${sample}`);
  }
  return lines;
}
