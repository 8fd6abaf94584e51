import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { DDL, demoChecks, runWorkload } from '../helpers/demo-tables.ts';
import { rootConnection, rows } from '../helpers/mysql.ts';
import { Pipeline, waitUntilEqual } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';

/**
 * binlog_row_metadata=MINIMAL: TableMaps carry neither column names nor primary keys, so the
 * source reads them from information_schema and says so at start-up. Without DDL in flight the
 * result must be the same as with FULL.
 */
describe('binlog_row_metadata=MINIMAL: information_schema fallback', () => {
  const pipeline = new Pipeline(uniqueName('cdc_minimal'));
  let conn: mysql.Connection;
  let previous = 'FULL';

  before(async () => {
    const admin = await rootConnection();
    previous = String((await rows(admin, 'SELECT @@GLOBAL.binlog_row_metadata AS m'))[0]!.m);
    await admin.query("SET GLOBAL binlog_row_metadata = 'MINIMAL'");
    await admin.end();
    // A new connection, so that its rows are logged with MINIMAL metadata.
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource();
    await pipeline.startSink();
  });

  after(async () => {
    const admin = await rootConnection();
    await admin.query('SET GLOBAL binlog_row_metadata = ?', [previous]);
    await admin.end();
    await pipeline.stopAll();
    await conn?.end();
  });

  it('warns at start-up that metadata comes from information_schema', () => {
    const warning = pipeline.source!.lines.find((l) => l.level === 'warn' && /binlog_row_metadata is not FULL/.test(String(l.msg)));
    assert.ok(warning, 'a start-up warning');
    assert.equal(warning.binlog_row_metadata, 'MINIMAL');
    assert.match(String(warning.msg), /information_schema/);
  });

  it('captures keyed tables with their primary keys, row for row equal in Elasticsearch', async () => {
    await runWorkload(conn, 1, 40);
    await waitUntilEqual(
      conn,
      demoChecks((t) => pipeline.indexOf(t)),
    );
  });
});
