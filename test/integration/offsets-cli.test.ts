import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, dumpAll, runWorkload } from '../helpers/demo-tables.ts';
import { readTopic } from '../helpers/kafka.ts';
import { Pipeline, waitProcessed, waitUntilEqual } from '../helpers/pipeline.ts';
import { runCli, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';

interface Report {
  source: { sourceId: string; position: { file: string; pos: number } } | null;
  group: { id: string; state: string; members: number };
  lagCounts: string;
  partitions: Array<{ topic: string; partition: number; committed: string | null; low: string; high: string; lag: string }>;
}

/** `cdc offsets show|reset`, and a replay through a reset into the live index changes nothing. */
describe('cdc offsets show and reset', () => {
  const pipeline = new Pipeline(uniqueName('cdc_offsets'));
  const checks = demoChecks((t) => pipeline.indexOf(t));
  const env = () => ({ KAFKA_BROKERS: stackEnv().KAFKA_BROKERS, TOPIC_PREFIX: pipeline.prefix, SINK_GROUP_ID: pipeline.group, SOURCE_ID: pipeline.sourceId });
  const offsets = async (...args: string[]) => runCli(['offsets', ...args], env());
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource();
    await pipeline.startSink();
    await runWorkload(conn, 1, 40);
    await waitUntilEqual(conn, checks);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('shows the source position and, per partition, the committed offset and lag', async () => {
    // The commit follows the bulk request that made the documents visible by a moment.
    let report: Report;
    for (const until = Date.now() + 15_000; ; await sleep(500)) {
      const result = await offsets('show');
      assert.equal(result.status, 0, result.stderr);
      report = JSON.parse(result.stdout) as Report;
      if (report.partitions.every((p) => p.lag === '0') || Date.now() > until) break;
    }
    assert.match(report.lagCounts, /transaction markers/i);
    assert.equal(report.source?.sourceId, pipeline.sourceId);
    assert.match(report.source!.position.file, /\.\d+$/);
    assert.equal(report.group.members, 1, 'the running sink is a member');
    assert.deepEqual(
      report.partitions.map((p) => p.topic),
      [pipeline.topicOf('customers'), pipeline.topicOf('order_lines')],
    );
    for (const p of report.partitions) {
      assert.ok(p.committed !== null && BigInt(p.committed) > 0n, `${p.topic} has a committed offset`);
      // The last offset of a transactional topic is a commit marker: a caught-up group has committed past it too.
      assert.equal(p.lag, '0', `${p.topic} is caught up (committed ${p.committed}, high ${p.high})`);
      assert.equal(p.committed, p.high);
    }
  });

  it('refuses a reset while a sink of the group runs, and rejects a malformed target', async () => {
    const active = await offsets('reset', '--to', 'earliest');
    assert.equal(active.status, 2);
    assert.match(active.stderr, /^GROUP_ACTIVE: .*1 running member/m);
    const malformed = await offsets('reset', '--to', 'yesterday');
    assert.equal(malformed.status, 2);
    assert.match(malformed.stderr, /^ARGUMENT_INVALID: --to "yesterday"/m);
  });

  it('previews with --dry-run, then resets to earliest; the replay leaves every document and version unchanged', async () => {
    const before = await dumpAll(checks);
    assert.equal(await pipeline.sink!.stop('SIGTERM'), 0);
    const shown = JSON.parse((await offsets('show')).stdout) as Report;

    const dry = await offsets('reset', '--to', 'earliest', '--dry-run');
    assert.equal(dry.status, 0, dry.stderr);
    const plan = JSON.parse(dry.stdout) as { dryRun: boolean; changes: Array<{ topic: string; from: string; to: string }> };
    assert.equal(plan.dryRun, true);
    assert.ok(
      plan.changes.every((c) => c.to === '0' && BigInt(c.from) > 0n),
      JSON.stringify(plan.changes),
    );
    assert.deepEqual((JSON.parse((await offsets('show')).stdout) as Report).partitions, shown.partitions, 'a dry run changes nothing');

    const reset = await offsets('reset', '--to', 'earliest');
    assert.equal(reset.status, 0, reset.stderr);
    assert.ok((JSON.parse((await offsets('show')).stdout) as Report).partitions.every((p) => p.committed === '0'));

    const sink = await pipeline.startSink();
    const counts = new Map<string, number>();
    for (const table of ['customers', 'order_lines']) counts.set(pipeline.topicOf(table), (await readTopic(pipeline.topicOf(table))).length);
    await waitProcessed(sink, counts);
    const afterReplay = await dumpAll(checks);
    for (const [index, docs] of before) {
      const again = afterReplay.get(index)!;
      assert.equal(again.size, docs.size, `${index}: document count changed`);
      for (const [id, doc] of docs) assert.deepEqual(again.get(id), doc, `${index}/${id} changed after the replay`);
    }
  });
});
