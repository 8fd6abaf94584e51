import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { uniqueName } from '../helpers/services.ts';
import { forEachRow } from '../../src/source/streamed-rows.ts';

/**
 * forEachRow, the row stream under every snapshot chunk: rows in order, and every way a query can
 * end reaches the caller (a server error, a lost connection, a failing row handler) instead of a
 * promise that never settles.
 */
describe('streamed rows', () => {
  const database = uniqueName('cdc_stream');
  let conn: mysql.Connection;
  before(async () => {
    await freshDatabase(database);
    conn = await rootConnection(database);
    await conn.query('CREATE TABLE t (id INT PRIMARY KEY)');
    await conn.query(`INSERT INTO t VALUES ${Array.from({ length: 1000 }, (_, i) => `(${i + 1})`).join(',')}`);
  });
  after(async () => {
    await conn.end();
  });

  it('hands over the rows one by one, in order', async () => {
    const ids: number[] = [];
    await forEachRow(conn, { sql: 'SELECT id FROM t WHERE id > ? ORDER BY id', values: [10] }, (row) => ids.push(Number(row.id)));
    assert.equal(ids.length, 990);
    assert.deepEqual(ids.slice(0, 3), [11, 12, 13]);
  });

  it("rejects with the server's error, and with the handler's first error; the connection stays usable", async () => {
    await assert.rejects(
      forEachRow(conn, { sql: 'SELECT id FROM missing', values: [] }, () => undefined),
      (error: { errno?: number }) => error.errno === 1146,
    );
    let seen = 0;
    await assert.rejects(
      forEachRow(conn, { sql: 'SELECT id FROM t', values: [] }, () => {
        seen += 1;
        throw new Error('row refused');
      }),
      /row refused/,
    );
    assert.equal(seen, 1, 'no row after the failure reaches the handler');
    const [rows] = await conn.query('SELECT COUNT(*) AS n FROM t');
    assert.equal(Number((rows as Array<{ n: number }>)[0]!.n), 1000);
  });

  it('rejects when the connection is lost mid-query', async () => {
    const victim = await rootConnection(database);
    try {
      // The server sleeps while the client's socket goes away, as when a network path breaks.
      const reading = forEachRow(victim, { sql: 'SELECT SLEEP(5)', values: [] }, () => undefined);
      await new Promise((r) => setTimeout(r, 100));
      (victim as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
      await assert.rejects(reading, (error: { code?: string }) => error.code === 'PROTOCOL_CONNECTION_LOST');
    } finally {
      await victim.end().catch(() => undefined);
    }
  });
});
