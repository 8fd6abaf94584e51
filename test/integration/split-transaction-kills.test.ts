import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { SourcePosition } from '../../src/core/position.ts';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { readTopic, testKafka } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { type ServiceProcess, uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

/** The state of one key after each of its changes, in commit order: what its topic must hold, once each. */
type History = Map<string, string[]>;

/** Applies a statement's effect to the model: every change of a key appends its new image (or `deleted`). */
function apply(history: History, state: Map<number, string>, changes: Array<[id: number, val: string | null]>): void {
  for (const [id, val] of changes) {
    if (val === null) state.delete(id);
    else state.set(id, val);
    const list = history.get(String(id)) ?? [];
    list.push(val ?? 'deleted');
    history.set(String(id), list);
  }
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Large binlog transactions, each split into many Kafka transactions (TXN_MAX_EVENTS=300): inserts,
 * updates and deletes of every row, and one transaction over two tables. Records the model in `a`, `b`.
 */
async function workload(conn: mysql.Connection, a: History, b: History): Promise<void> {
  const stateA = new Map<number, string>();
  const stateB = new Map<number, string>();
  await conn.query("INSERT INTO a SELECT seq, concat('v', seq) FROM seq_1_to_40000");
  apply(
    a,
    stateA,
    range(1, 40000).map((id) => [id, `v${id}`]),
  );
  await conn.query("UPDATE a SET val = concat('u', id)");
  apply(
    a,
    stateA,
    range(1, 40000).map((id) => [id, `u${id}`]),
  );
  await conn.query("START TRANSACTION; INSERT INTO b SELECT seq, concat('b', seq) FROM seq_1_to_8000; UPDATE a SET val = concat('w', id) WHERE id <= 8000; DELETE FROM a WHERE id > 15000; COMMIT");
  apply(
    b,
    stateB,
    range(1, 8000).map((id) => [id, `b${id}`]),
  );
  apply(
    a,
    stateA,
    range(1, 8000).map((id) => [id, `w${id}`]),
  );
  apply(
    a,
    stateA,
    range(15001, 40000).map((id) => [id, null]),
  );
  await conn.query("UPDATE b SET val = concat('c', id) WHERE id % 2 = 0");
  apply(
    b,
    stateB,
    range(1, 8000)
      .filter((id) => id % 2 === 0)
      .map((id) => [id, `c${id}`]),
  );
  await conn.query('DELETE FROM a WHERE id % 3 = 0');
  apply(
    a,
    stateA,
    [...stateA.keys()]
      .filter((id) => id % 3 === 0)
      .sort((x, y) => x - y)
      .map((id) => [id, null]),
  );
}

/** Per key, the images in the topic in offset order (`deleted` for a delete; tombstones left out). */
async function topicHistory(topic: string): Promise<{ history: History; transactions: Map<string, number> }> {
  const history: History = new Map();
  const transactions = new Map<string, number>();
  for (const record of await readTopic(topic, 300_000)) {
    if (!record.decodedValue || !record.decodedKey) continue;
    const envelope = record.decodedValue as { op: string; after: { val: string } | null; transaction: { id: string } | null };
    const key = String(record.decodedKey.id);
    const list = history.get(key) ?? [];
    list.push(envelope.op === 'd' ? 'deleted' : envelope.after!.val);
    history.set(key, list);
    const id = envelope.transaction!.id;
    transactions.set(id, (transactions.get(id) ?? 0) + 1);
  }
  return { history, transactions };
}

async function storedPosition(pipeline: Pipeline): Promise<{ file: string; pos: number; event?: number } | undefined> {
  let last: { position: { file: string; pos: number; event?: number } } | undefined;
  await readTopicToEnd(
    testKafka(),
    `${pipeline.prefix}.offsets`,
    (message) => {
      if (message.key?.toString() === pipeline.sourceId && message.value) last = JSON.parse(message.value.toString());
    },
    { timeoutMs: 120_000 },
  );
  return last?.position;
}

/**
 * Until this source process committed a part of a split transaction (its status shows a commit of
 * its own and the position inside a transaction: the position restored at start does not count),
 * or `timeoutMs` passed.
 */
async function untilInsideTransaction(source: ServiceProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await source.http('/status').then(
      (answer) => JSON.parse(answer.body) as { lastCommitAt: string | null; position?: { event?: number } },
      () => undefined,
    );
    if (status?.lastCommitAt && status.position?.event) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('kill -9 of the source inside split transactions', () => {
  const pipeline = new Pipeline(uniqueName('cdc_split'));
  let conn: mysql.Connection;
  const env = { TXN_MAX_EVENTS: '300', TXN_LINGER_MS: '5', TRANSACTION_METADATA: 'true', QUEUE_MAX_BYTES: String(2 * 1024 * 1024) };

  before(async () => {
    conn = await pipeline.createDatabase('CREATE TABLE a (id INT PRIMARY KEY, val VARCHAR(20) NOT NULL); CREATE TABLE b (id INT PRIMARY KEY, val VARCHAR(20) NOT NULL)');
    await pipeline.startSource(env);
    await pipeline.startSink();
  });
  after(async () => {
    await pipeline.stopAll();
    await conn.end();
  });

  it('keeps every change exactly once in commit order per key, BEGIN/END around the parts, and Elasticsearch equal to MariaDB', async () => {
    const expectedA: History = new Map();
    const expectedB: History = new Map();
    await workload(conn, expectedA, expectedB);
    const total = [...expectedA.values(), ...expectedB.values()].reduce((n, l) => n + l.length, 0);

    // Kill at random points until five kills left the stored position inside a transaction. Each
    // kill waits until the source committed a part of a split transaction (its status shows the
    // position inside one), then a random while: a kill timed only from the source's start hit a
    // split transaction less often the faster the source got through them.
    let insideKills = 0;
    let kills = 0;
    while (insideKills < 5 && kills < 25) {
      await untilInsideTransaction(pipeline.source!, 5000);
      await new Promise((r) => setTimeout(r, Math.random() * 300));
      await pipeline.source!.stop('SIGKILL');
      kills++;
      const stored = await storedPosition(pipeline);
      if (stored?.event) insideKills++;
      await pipeline.startSource(env);
    }
    assert.ok(insideKills >= 5, `only ${insideKills} of ${kills} kills hit a split transaction`);

    // At or past the end of the workload's binlog (other suites may write to the same server meanwhile).
    const [master] = await rows(conn, 'SHOW MASTER STATUS');
    const end = new SourcePosition(String(master!.File), Number(master!.Position));
    await waitFor(
      'the stored position to reach the end of the workload',
      async () => {
        const stored = await storedPosition(pipeline);
        return stored && !stored.event && !end.isAfter(new SourcePosition(stored.file, stored.pos));
      },
      300_000,
      1000,
    );
    const topicA = await topicHistory(pipeline.topicOf('a'));
    const topicB = await topicHistory(pipeline.topicOf('b'));
    for (const [name, expected, actual] of [
      ['a', expectedA, topicA.history],
      ['b', expectedB, topicB.history],
    ] as const) {
      assert.equal(actual.size, expected.size, `${name}: keys`);
      for (const [key, list] of expected) assert.deepEqual(actual.get(key), list, `${name} key ${key}: changes differ (duplicate, gap or order)`);
    }

    // Each binlog transaction: one BEGIN before its first part, one END after its last, counting all its events.
    const markers: Array<{ status: string; id: string; event_count: number | null }> = [];
    await readTopicToEnd(
      testKafka(),
      `${pipeline.prefix}.transactions`,
      (m) => {
        markers.push(JSON.parse(m.value!.toString()));
      },
      { timeoutMs: 120_000 },
    );
    const events = new Map([...topicA.transactions].map(([id, n]) => [id, n + (topicB.transactions.get(id) ?? 0)]));
    for (const [id, n] of topicB.transactions) if (!events.has(id)) events.set(id, n);
    assert.equal(events.size, 5, 'five binlog transactions');
    assert.equal(
      [...events.values()].reduce((x, y) => x + y, 0),
      total,
    );
    for (const [id, n] of events) {
      const own = markers.filter((m) => m.id === id);
      assert.deepEqual(
        own.map((m) => m.status),
        ['BEGIN', 'END'],
        `transaction ${id}: markers`,
      );
      assert.equal(own[1]!.event_count, n, `transaction ${id}: END counts its events`);
    }

    const check = (table: string) => ({
      table,
      index: pipeline.indexOf(table),
      idOf: (r: Record<string, unknown>) => String(r.id),
      expected: (r: Record<string, unknown>) => ({ id: String(r.id), val: String(r.val) }),
    });
    await waitUntilEqual(conn, [check('a'), check('b')], 300_000);
  });
});
