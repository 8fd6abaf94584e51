import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { TableKeys } from '../../src/source/table-keys.ts';
import { freshDatabase, rootConnection } from '../helpers/mysql.ts';
import { uniqueName } from '../helpers/services.ts';

/**
 * The keys the source reads from information_schema at start: the primary key, else a table's
 * smallest unique index over NOT NULL columns. Two tables whose names differ only in case
 * (lower_case_table_names=0) with an index of the same name were merged into one by
 * information_schema's case-insensitive grouping.
 */
describe('table keys from information_schema', () => {
  const db = uniqueName('cdc_keys');
  let conn: mysql.Connection;

  before(async () => {
    await freshDatabase(db);
    conn = await rootConnection(db);
    await conn.query('CREATE TABLE Orders (id INT PRIMARY KEY, a INT NOT NULL, UNIQUE KEY u (a))');
    await conn.query('CREATE TABLE orders (x INT NOT NULL, y INT NOT NULL, z INT NULL, w INT NOT NULL, UNIQUE KEY u (x, y), UNIQUE KEY uz (z), UNIQUE KEY uwxy (w, x, y))');
    await conn.query('CREATE TABLE nullable_only (a INT NULL, UNIQUE KEY ua (a))');
    // As MySQL runs by default: every selected column must be grouped.
    await conn.query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',ONLY_FULL_GROUP_BY')");
  });
  after(async () => {
    await conn?.end();
  });

  it('keeps the indexes of tables whose names differ only in case apart, and skips nullable unique indexes', async () => {
    const keys = new TableKeys(undefined);
    await keys.load(conn);
    assert.deepEqual(keys.keyOf(db, 'Orders', ['id', 'a'], [0]), [0], 'the primary key');
    assert.deepEqual(keys.keyOf(db, 'orders', ['x', 'y', 'z', 'w'], undefined), [0, 1], 'the smallest unique index over NOT NULL columns');
    assert.equal(keys.keyOf(db, 'nullable_only', ['a'], undefined), undefined, 'a unique index over a nullable column is no key');
  });
});
