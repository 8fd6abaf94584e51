import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { es } from '../helpers/elasticsearch.ts';
import { rows } from '../helpers/mysql.ts';
import { metricValue, Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import type { ServiceProcess } from '../helpers/services.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const ROWS = 300_000;
/** Far below what 300,000 changes take in memory: the transaction must stream through in parts. */
const QUEUE_MAX_BYTES = 8 * 1024 * 1024;

/** Documents of `index` matching `query`, after a refresh. */
async function count(index: string, query: unknown = { match_all: {} }): Promise<number> {
  await es('POST', `/${index}/_refresh`);
  const answer = await es('POST', `/${index}/_count`, { query });
  return answer.status === 200 ? Number((answer.body as { count: number }).count) : -1;
}

/** An unlabelled gauge of a service's /metrics. */
async function gauge(service: ServiceProcess, name: string): Promise<number> {
  const line = (await service.http('/metrics')).body.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.slice(name.length + 1)) : Number.NaN;
}

describe('a 300,000-row binlog transaction', () => {
  const pipeline = new Pipeline(uniqueName('cdc_bigtx'));
  let conn: mysql.Connection;
  const check = {
    table: 't',
    index: pipeline.indexOf('t'),
    idOf: (r: Record<string, unknown>) => String(r.id),
    expected: (r: Record<string, unknown>) => ({ id: String(r.id), val: String(r.val) }),
  };

  before(async () => {
    conn = await pipeline.createDatabase('CREATE TABLE t (id INT PRIMARY KEY, val VARCHAR(20) NOT NULL)');
    await pipeline.startSource({ QUEUE_MAX_BYTES: String(QUEUE_MAX_BYTES) });
    await pipeline.startSink();
  });
  after(async () => {
    await pipeline.stopAll();
    await conn.end();
  });

  /** The source is still the first process (it never died) and its queue never held more than its bound. */
  async function assertBoundedAndAlive(): Promise<void> {
    assert.equal(pipeline.source!.child.exitCode, null, 'the source is still running');
    const highWater = await gauge(pipeline.source!, 'cdc_source_queue_high_water_bytes');
    assert.ok(highWater > 0, 'the queue was used');
    assert.ok(highWater <= QUEUE_MAX_BYTES, `queue high-water mark ${highWater} exceeds QUEUE_MAX_BYTES ${QUEUE_MAX_BYTES}`);
  }

  it('streams an INSERT … SELECT of 300,000 rows through source and sink', async () => {
    await conn.query(`INSERT INTO t SELECT seq, concat('v', seq) FROM seq_1_to_${ROWS}`);
    await waitFor('every inserted row in Elasticsearch', async () => (await count(check.index)) === ROWS, 600_000, 3000);
    await waitUntilEqual(conn, [check], 120_000);
    await assertBoundedAndAlive();
  });

  it('streams an UPDATE of every row', async () => {
    await conn.query("UPDATE t SET val = concat('u', id)");
    await waitFor('every update in Elasticsearch', async () => (await count(check.index, { prefix: { val: 'u' } })) === ROWS, 600_000, 3000);
    await waitUntilEqual(conn, [check], 120_000);
    await assertBoundedAndAlive();
  });

  it('streams a DELETE of every row', async () => {
    await conn.query('DELETE FROM t');
    assert.equal(Number((await rows(conn, 'SELECT COUNT(*) AS n FROM t'))[0]!.n), 0);
    await waitFor('every row deleted from Elasticsearch', async () => (await count(check.index)) === 0, 600_000, 3000);
    await assertBoundedAndAlive();
    const committed = await metricValue(pipeline.source!, 'cdc_source_events_total', `table="${pipeline.database}.t",op="d"`);
    assert.equal(committed, ROWS, 'each delete committed once');
  });
});
