import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { deleteIndices, dumpIndex } from '../helpers/elasticsearch.ts';
import { deleteTopics } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection, rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { startService, uniqueName, waitReady, type ServiceProcess } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const TABLES = 40;
const table = (i: number) => `t${String(i).padStart(2, '0')}`;

/**
 * Issue 20 item 12: many tables created at once while the sink runs. Two sinks read the new
 * tables' topics: one into an index per table, so new indices are prepared several at a time, by
 * several partitions at once; the other into one index behind a write alias for all of them (same
 * columns, so the same mapping), which does not exist before the burst, so every partition needs
 * the same new index at the same moment and all must wait for its one preparation (a partition
 * that wrote before it was done would make Elasticsearch create a plain index under the alias's
 * name, and the preparation would then fail). Both must end with every row of MariaDB, nothing
 * dead-lettered, nothing logged as an error and nothing held.
 */
describe('a burst of new tables while the sink runs', () => {
  const pipeline = new Pipeline(uniqueName('cdc_burst'));
  const shared = `${pipeline.prefix}_${pipeline.database}_all`.toLowerCase();
  let conn: mysql.Connection;
  let perTable: ServiceProcess;
  let oneIndex: ServiceProcess;

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query('CREATE TABLE seed (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO seed VALUES (1, "seed")');
    await pipeline.startSource();
    await conn.query('INSERT INTO seed VALUES (2, "seed")');
    perTable = await pipeline.startSink({ SINK_INDEX_CONCURRENCY: '4' });
    // Only the new tables' topics: the shared index does not exist before the burst.
    const newTables = `^${pipeline.prefix}\\.${pipeline.database}\\.t\\d\\d$`;
    oneIndex = startService('sink', pipeline.sinkEnv({ SINK_GROUP_ID: `${pipeline.group}-one`, SINK_TOPICS: newTables, INDEX_NAME_TEMPLATE: '{prefix}_{database}_all', INDEX_WRITE_ALIAS: 'true' }));
    await waitReady(oneIndex);
    await waitFor('the per-table sink to index the seed table', async () => (await dumpIndex(pipeline.indexOf('seed'))).size === 1, 60_000, 500);
  });

  after(async () => {
    await Promise.all([pipeline.stopAll(), oneIndex?.stop('SIGKILL')]);
    await deleteIndices(`${pipeline.prefix}_*`);
    await deleteTopics(pipeline.prefix).catch(() => undefined);
    await conn?.query(`DROP DATABASE IF EXISTS \`${pipeline.database}\``);
    await conn?.end();
  });

  it('ends with every new table searchable and equal to MariaDB, through concurrent index preparation', async () => {
    const consumingBefore = perTable.lines.filter((l) => l.msg === 'consuming').length;
    // Ids unique across tables, so the shared index holds every row of every table.
    const statements: string[] = [];
    for (let i = 0; i < TABLES; i++) {
      const id = (j: number) => 100 * (i + 1) + j;
      statements.push(
        `CREATE TABLE ${table(i)} (id INT PRIMARY KEY, v VARCHAR(20))`,
        `INSERT INTO ${table(i)} VALUES (${id(1)}, 'one'), (${id(2)}, 'two'), (${id(3)}, 'three')`,
        `UPDATE ${table(i)} SET v = 'changed' WHERE id = ${id(2)}`,
        `DELETE FROM ${table(i)} WHERE id = ${id(3)}`,
      );
    }
    await conn.query(statements.join(';\n'));

    const expected = new Map<string, Map<string, string>>();
    for (let i = 0; i < TABLES; i++) expected.set(table(i), new Map((await rows(conn, `SELECT id, v FROM ${table(i)}`)).map((r) => [String(r.id), String(r.v)])));
    const asText = (docs: Map<string, { source: Record<string, unknown> }>) => new Map([...docs].map(([id, doc]) => [id, String(doc.source.v)]));
    await waitFor(
      'every new table in its own index, equal to MariaDB',
      async () => {
        for (const [name, want] of expected) assert.deepEqual(asText(await dumpIndex(pipeline.indexOf(name))), want, `index of ${name}`);
        return true;
      },
      60_000,
      1000,
    );
    const union = new Map([...expected.values()].flatMap((m) => [...m]));
    await waitFor(
      'every new table in the shared index, equal to MariaDB',
      async () => {
        assert.deepEqual(asText(await dumpIndex(shared)), union);
        return true;
      },
      60_000,
      1000,
    );

    for (const sink of [perTable, oneIndex]) {
      const letters = sink.lines.filter((l) => /dead-letter/.test(String(l.msg)));
      assert.deepEqual(
        letters.map((l) => l.raw),
        [],
        'nothing dead-lettered',
      );
      assert.ok(!(await sink.http('/metrics')).body.includes('cdc_sink_dead_letters_total{'), 'no dead-letter count');
      assert.deepEqual(
        sink.lines.filter((l) => Number(l.level) >= 50).map((l) => l.raw),
        [],
        'no error logged',
      );
      assert.equal((await sink.http('/readyz')).status, 200, 'ready, no partition held');
    }
    // Informational: how often the burst replaced the per-table sink's consumer (new topics wait for a busy one).
    const replacements = perTable.lines.filter((l) => l.msg === 'consuming').length - consumingBefore;
    console.log(`the burst of ${TABLES} tables replaced the consumer ${replacements} time(s)`);
    assert.ok(replacements <= 5, `${replacements} consumer replacements for one burst`);
  });
});
