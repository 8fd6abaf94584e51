import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { DDL, demoChecks, docAsText, expectedCustomer, runWorkload } from '../helpers/demo-tables.ts';
import { deleteIndices, dumpIndex } from '../helpers/elasticsearch.ts';
import { testKafka } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { assertVersionsMatchLastChange, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { runCli, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `cdc replay`: a damaged index is repaired from the binlog; dry runs and too-old times change nothing. */
describe('cdc replay', () => {
  const pipeline = new Pipeline(uniqueName('cdc_replay'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  const auditFile = join(mkdtempSync(join(tmpdir(), 'cdc-replay-')), 'audit.jsonl');
  let conn: mysql.Connection;
  let createdAt: string;
  let since: string;

  const replay = (...args: string[]) => runCli(['replay', '--table', `${pipeline.database}.customers`, ...args], { ...pipeline.sourceCommandEnv(), AUDIT_LOG_FILE: auditFile });
  const counts = async () => {
    const out: Record<string, number> = {};
    for (const topic of [pipeline.topicOf('customers'), pipeline.topicOf('order_lines'), `${pipeline.prefix}.offsets`]) {
      out[topic] = 0;
      await readTopicToEnd(testKafka(), topic, () => {
        out[topic]! += 1;
      });
    }
    return out;
  };

  before(async () => {
    createdAt = new Date().toISOString();
    await pause(1100);
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource({ HEARTBEAT_INTERVAL_MS: '0' });
    await pipeline.startSink();
    for (let id = 1; id <= 5; id++) await conn.query("INSERT INTO customers (id, name) VALUES (?, 'before')", [id]);
    // Binlog timestamps have whole seconds: keep the changes before and after `since` in different ones.
    await pause(1100);
    since = new Date().toISOString();
    await pause(1100);
    await runWorkload(conn, 100, 30);
    await waitUntilEqual(conn, checks);
  });
  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('--dry-run prints the position, file range and topic, and changes nothing', async () => {
    const before = await counts();
    const dry = await replay('--since', since, '--dry-run');
    assert.equal(dry.status, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout) as { dryRun: boolean; topic: string; from: { file: string; pos: number }; until: { file: string; pos: number }; files: string[]; serverHasPosition: boolean };
    assert.equal(plan.dryRun, true);
    assert.equal(plan.topic, pipeline.topicOf('customers'));
    assert.equal(plan.serverHasPosition, true);
    assert.ok(plan.files.includes(plan.from.file) && plan.files.includes(plan.until.file), JSON.stringify(plan));
    // The position found is a transaction boundary after the five early inserts.
    const [first] = await rows(conn, `SHOW BINLOG EVENTS IN '${plan.from.file}' FROM ${plan.from.pos} LIMIT 1`);
    assert.match(String(first?.Event_type), /Gtid|Query/, JSON.stringify(first));
    assert.deepEqual(await counts(), before, 'a dry run writes nothing');
  });

  it("repairs a removed index with the table's changes since the time, and only those", async () => {
    assert.equal(await pipeline.sink!.stop('SIGTERM'), 0);
    await deleteIndices(pipeline.indexOf('customers'));
    await pipeline.startSink();
    const before = await counts();

    const result = await replay('--since', since);
    assert.equal(result.status, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { records: number; changes: { c: number; u: number; d: number } };
    assert.equal(report.changes.c, 30, JSON.stringify(report));
    const after = await counts();
    assert.equal(after[pipeline.topicOf('customers')], before[pipeline.topicOf('customers')]! + report.records);
    assert.equal(after[pipeline.topicOf('order_lines')], before[pipeline.topicOf('order_lines')], 'other tables are not replayed');
    assert.equal(after[`${pipeline.prefix}.offsets`], before[`${pipeline.prefix}.offsets`], "the live source's stored position is not touched");

    const table = await rows(conn, 'SELECT * FROM customers WHERE id >= 100');
    await waitFor(
      'the changes since the time in Elasticsearch',
      async () => {
        const docs = await dumpIndex(pipeline.indexOf('customers'));
        assert.equal(docs.size, table.length, `${docs.size} documents, ${table.length} rows changed since the time`);
        for (const row of table) assert.deepEqual(docAsText(docs.get(String(row.id))!.source), expectedCustomer(row));
        return true;
      },
      120_000,
      1000,
    );
  });

  it('from before the table was created makes the index equal to the table with the live versions', async () => {
    const result = await replay('--since', createdAt);
    assert.equal(result.status, 0, result.stderr);
    await waitUntilEqual(conn, checks);
    await assertVersionsMatchLastChange(conn, pipeline.topicOf('customers'), pipeline.indexOf('customers'), (k) => String(k.id));
  });

  it('refuses a time the server no longer has, and malformed arguments, with coded errors', async () => {
    const before = await counts();
    const old = await replay('--since', '2000-01-01T00:00:00Z');
    assert.equal(old.status, 2);
    assert.match(old.stderr, /^SOURCE_POSITION_PURGED: .*oldest binlog/m);
    const malformed = await replay('--since', 'last tuesday');
    assert.equal(malformed.status, 2);
    assert.match(malformed.stderr, /^ARGUMENT_INVALID: --since "last tuesday"/m);
    assert.deepEqual(await counts(), before);
  });

  it('with --snapshot-if-gone requests an incremental snapshot of the table when the binlog is gone', async () => {
    await conn.query('CREATE TABLE cdc_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT)');
    const { MYSQL_USER } = stackEnv();
    for (const host of ['127.0.0.1', 'localhost']) await conn.query(`GRANT INSERT, DELETE ON \`${pipeline.database}\`.cdc_signal TO '${MYSQL_USER}'@'${host}'`);
    const withSignal = (...args: string[]) =>
      runCli(['replay', '--table', `${pipeline.database}.customers`, ...args], { ...pipeline.sourceCommandEnv({ SIGNAL_TABLE: `${pipeline.database}.cdc_signal` }), AUDIT_LOG_FILE: auditFile });
    const dry = await withSignal('--since', '2000-01-01T00:00:00Z', '--snapshot-if-gone', '--dry-run');
    assert.equal(dry.status, 0, dry.stderr);
    assert.equal(JSON.parse(dry.stdout).fallback, 'incremental snapshot');
    assert.deepEqual(await rows(conn, 'SELECT type FROM cdc_signal'), [], 'a dry run writes no request');
    const real = await withSignal('--since', '2000-01-01T00:00:00Z', '--snapshot-if-gone');
    assert.equal(real.status, 0, real.stderr);
    const [signal] = await rows(conn, 'SELECT type, data FROM cdc_signal');
    assert.equal(signal?.type, 'execute-snapshot');
    assert.deepEqual(JSON.parse(String(signal?.data)), { 'data-collections': [`${pipeline.database}.customers`], type: 'incremental' });
  });

  it('audits every replay with its outcome', () => {
    const entries = readFileSync(auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { who: string; action: string; outcome: string; params: { dryRun: boolean }; error?: { code: string } });
    const finished = entries.filter((e) => e.outcome !== 'started');
    assert.deepEqual(
      finished.map((e) => [e.action, e.outcome, e.params.dryRun, e.error?.code]),
      [
        ['replay', 'ok', true, undefined],
        ['replay', 'ok', false, undefined],
        ['replay', 'ok', false, undefined],
        ['replay', 'failed', false, 'SOURCE_POSITION_PURGED'],
        ['replay', 'failed', false, 'ARGUMENT_INVALID'],
        ['replay', 'ok', true, undefined],
        ['replay', 'ok', false, undefined],
      ],
    );
    assert.ok(entries.every((e) => e.who.startsWith('cli:')));
  });
});
