import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection, rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { startService, uniqueName, waitReady, type ServiceProcess } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';

/** One row change as the workload made it: what the topic must hold, in this order per key. */
interface Change {
  table: 'a' | 'b';
  key: string;
  op: 'c' | 'u' | 'd';
  after: string | null;
}

/**
 * A sequential workload that records every row change it makes: single-row statements, multi-table
 * transactions, deletes and a few large (500-row) transactions. Commit order is program order.
 */
async function workload(conn: mysql.Connection, count: number, changes: Change[]): Promise<void> {
  const a = new Map<number, { val: string; n: number }>();
  const image = (id: number, row: { val: string; n: number }) => JSON.stringify([String(id), row.val, String(row.n)]);
  let nextB = 1;
  for (let i = 1; i <= count; i++) {
    const row = { val: `v${i}`, n: i };
    await conn.query('INSERT INTO a VALUES (?, ?, ?)', [i, row.val, row.n]);
    a.set(i, row);
    changes.push({ table: 'a', key: String(i), op: 'c', after: image(i, row) });
    if (i % 3 === 0) {
      await conn.query('START TRANSACTION');
      await conn.query('UPDATE a SET n = n + 1 WHERE id = ?', [i]);
      row.n += 1;
      changes.push({ table: 'a', key: String(i), op: 'u', after: image(i, row) });
      await conn.query('INSERT INTO b VALUES (?, ?, ?)', [nextB, `b${nextB}`, i]);
      changes.push({ table: 'b', key: String(nextB), op: 'c', after: JSON.stringify([String(nextB), `b${nextB}`, String(i)]) });
      nextB++;
      await conn.query('COMMIT');
    }
    if (i % 4 === 0 && a.has(i - 1)) {
      await conn.query('DELETE FROM a WHERE id = ?', [i - 1]);
      a.delete(i - 1);
      changes.push({ table: 'a', key: String(i - 1), op: 'd', after: null });
    }
    if (i % 10 === 0) {
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (let k = 0; k < 1000; k++, nextB++) {
        tuples.push('(?, ?, ?)');
        values.push(nextB, `bulk${nextB}`, i);
        changes.push({ table: 'b', key: String(nextB), op: 'c', after: JSON.stringify([String(nextB), `bulk${nextB}`, String(i)]) });
      }
      await conn.query(`INSERT INTO b VALUES ${tuples.join(',')}`, values);
    }
  }
}

/** What the topic holds per key, tombstones left out, in offset order. */
async function topicChanges(topic: string, table: 'a' | 'b'): Promise<Map<string, Change[]>> {
  const byKey = new Map<string, Change[]>();
  for (const record of await readTopic(topic, 120_000)) {
    if (!record.decodedValue || !record.decodedKey) continue;
    const envelope = record.decodedValue as { op: 'c' | 'u' | 'd'; after: Record<string, unknown> | null };
    const key = String(record.decodedKey.id);
    const after = envelope.after ? JSON.stringify(Object.values(envelope.after).map(String)) : null;
    const list = byKey.get(key) ?? [];
    list.push({ table, key, op: envelope.op, after });
    byKey.set(key, list);
  }
  return byKey;
}

function expectedByKey(changes: Change[], table: 'a' | 'b'): Map<string, Change[]> {
  const byKey = new Map<string, Change[]>();
  for (const change of changes.filter((c) => c.table === table)) {
    const list = byKey.get(change.key) ?? [];
    list.push(change);
    byKey.set(change.key, list);
  }
  return byKey;
}

async function storedPosition(pipeline: Pipeline): Promise<{ file: string; pos: number; gtids?: string } | undefined> {
  let last: { position: { file: string; pos: number; gtids?: string } } | undefined;
  await readTopicToEnd(testKafka(), `${pipeline.prefix}.offsets`, (message) => {
    if (message.key?.toString() === pipeline.sourceId && message.value) last = JSON.parse(message.value.toString());
  });
  return last?.position;
}

for (const resume of ['gtid', 'file'] as const) {
  describe(`exactly once into Kafka across SIGKILLs (resume by ${resume})`, () => {
    const pipeline = new Pipeline(uniqueName(`cdc_eo_${resume}`));
    let conn: mysql.Connection;
    // The smallest stall bound makes the server send a binlog heartbeat every 0.7 s of idleness, so
    // heartbeats fall between the workload's transactions and around every restart: they must not
    // disturb a resume by either GTID or file and position.
    const env = { RESUME_BY: resume, HEARTBEAT_INTERVAL_MS: '1000', TXN_LINGER_MS: '5', READY_STALL_SECONDS: '2' };

    before(async () => {
      await freshDatabase(pipeline.database);
      conn = await rootConnection(pipeline.database);
      await conn.query('CREATE TABLE a (id INT PRIMARY KEY, val VARCHAR(20), n INT); CREATE TABLE b (id INT PRIMARY KEY, val VARCHAR(20), n INT)');
      await pipeline.startSource(env);
    });
    after(async () => {
      await pipeline.stopAll();
      await conn.end();
    });

    it('holds each row change exactly once, in commit order per key, and stores the final position', async () => {
      const changes: Change[] = [];
      let done = false;
      const writer = workload(conn, 900, changes).finally(() => {
        done = true;
      });
      let kills = 0;
      while (!done || kills < 5) {
        await new Promise((r) => setTimeout(r, 300 + Math.random() * 1200));
        if (kills >= 5 && done) break;
        await pipeline.source!.stop('SIGKILL');
        kills++;
        await pipeline.startSource(env);
        if (kills >= 8) break;
      }
      await writer;
      assert.ok(kills >= 5, `killed ${kills} times`);
      for (const table of ['a', 'b'] as const) {
        const expected = expectedByKey(changes, table);
        const total = changes.filter((c) => c.table === table).length;
        let actual = new Map<string, Change[]>();
        await waitFor(
          `all ${total} changes of ${table} in Kafka`,
          async () => {
            actual = await topicChanges(pipeline.topicOf(table), table);
            return [...actual.values()].reduce((n, l) => n + l.length, 0) >= total;
          },
          120_000,
          1000,
        );
        assert.equal(actual.size, expected.size, `${table}: keys`);
        for (const [key, list] of expected) assert.deepEqual(actual.get(key), list, `${table} key ${key}: changes differ (duplicate, gap or order)`);
      }
      const [master] = await rows(conn, 'SHOW MASTER STATUS');
      const [gtid] = await rows(conn, 'SELECT @@gtid_binlog_pos AS pos');
      await waitFor(
        'the stored position to reach the end of the binlog',
        async () => {
          const stored = await storedPosition(pipeline);
          return stored && stored.file === master!.File && stored.pos === Number(master!.Position) && (resume === 'file' || stored.gtids === gtid!.pos);
        },
        30_000,
        500,
      );
    });
  });
}

describe('fencing', () => {
  const pipeline = new Pipeline(uniqueName('cdc_fence'));
  let conn: mysql.Connection;
  const instances: ServiceProcess[] = [];
  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query('CREATE TABLE a (id INT PRIMARY KEY, val VARCHAR(20), n INT)');
  });
  after(async () => {
    await Promise.all(instances.map((i) => i.stop('SIGKILL')));
    await conn.end();
  });

  it('a second instance with the same SOURCE_ID fences the first, which exits non-zero without a duplicate', async () => {
    const first = startService('source', pipeline.sourceEnv());
    instances.push(first);
    await waitReady(first);
    await conn.query("INSERT INTO a VALUES (1, 'one', 1)");
    await waitFor('the first change', async () => (await readTopic(pipeline.topicOf('a'))).length === 1);
    const second = startService('source', pipeline.sourceEnv());
    instances.push(second);
    await waitReady(second);
    await conn.query("INSERT INTO a VALUES (2, 'two', 2)");
    const code = await first.exited;
    assert.notEqual(code, 0, 'the fenced instance exits non-zero');
    assert.ok(
      first.lines.some((l) => (l.err as { code?: string } | undefined)?.code === 'SOURCE_FENCED'),
      'it logs SOURCE_FENCED',
    );
    await waitFor('the second change', async () => (await readTopic(pipeline.topicOf('a'))).length >= 2);
    await new Promise((r) => setTimeout(r, 1000));
    const ids = (await readTopic(pipeline.topicOf('a'))).filter((r) => r.decodedValue).map((r) => String(r.decodedKey!.id));
    assert.deepEqual(ids, ['1', '2']);
  });
});
