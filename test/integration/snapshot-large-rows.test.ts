import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { BLOBS_DDL, MiB, waitBlobsEqual } from '../helpers/blob-table.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import type { ServiceProcess } from '../helpers/services.ts';
import { uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const ROWS = 40;
/** Each row: 1.5 MiB of text and 1.5 MiB of random bytes, made by the server (the test sends no large packet). */
const ROW_BYTES = 3 * MiB;
const TEXT = `REPEAT('abcdefghijklmnopqrstuvwxyz012345', ${(1.5 * MiB) / 32})`;
const BLOB = `REPEAT(RANDOM_BYTES(1024), ${(1.5 * MiB) / 1024})`;
/** Well below the table's 120 MiB, with a row bound that would take the whole table in one chunk. */
const CHUNK_BYTES = 8 * MiB;
const bounds = { SNAPSHOT_CHUNK_BYTES: String(CHUNK_BYTES), SNAPSHOT_CHUNK_ROWS: '5000', INCREMENTAL_CHUNK_ROWS: '5000', LOG_LEVEL: 'debug' };
/**
 * Reading this table in one chunk (the row bound alone) took the source to 640–680 MiB RSS; in
 * chunks of 8 MiB it peaks at 280–380 MiB: what V8 has not yet collected of the values that passed
 * through (row packets, strings, encoded records, produce requests) stays resident until a
 * collection, with chunks of any size (docs/operations.md, "Source memory").
 */
const RSS_LIMIT_MIB = 480;

/** Peak resident set size of a running service (Linux VmHWM), in MiB. */
async function peakRssMiB(service: ServiceProcess): Promise<number> {
  const status = await readFile(`/proc/${service.child.pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
}

/** A fresh database with the 40 large rows (and a signal table for incremental snapshots). */
async function largeRows(pipeline: Pipeline): Promise<mysql.Connection> {
  const conn = await pipeline.createDatabase(`${BLOBS_DDL}; CREATE TABLE cdc_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT)`);
  const { MYSQL_USER } = stackEnv();
  for (const host of ['127.0.0.1', 'localhost']) await conn.query(`GRANT INSERT, DELETE ON \`${pipeline.database}\`.cdc_signal TO '${MYSQL_USER}'@'${host}'`);
  for (let id = 1; id <= ROWS; id++) await conn.query(`INSERT INTO blobs VALUES (${id}, 'row ${id}', ${TEXT}, ${BLOB})`);
  return conn;
}

/**
 * Chunks stayed within the byte bound (one row past it at most), the source within its memory
 * target, and the rows read past the bound and dropped stayed below one reading of the table:
 * the LIMIT followed what fitted instead of reading the rest of the table for every chunk.
 */
async function assertBounded(source: ServiceProcess): Promise<void> {
  const metrics = (await source.http('/metrics')).body;
  const highWater = Number(/^cdc_source_snapshot_chunk_high_water_bytes (\S+)$/m.exec(metrics)?.[1]);
  assert.ok(highWater >= CHUNK_BYTES && highWater < CHUNK_BYTES + ROW_BYTES + 64 * 1024, `largest chunk ${(highWater / MiB).toFixed(1)} MiB`);
  const rss = await peakRssMiB(source);
  assert.ok(rss < RSS_LIMIT_MIB, `source peak RSS ${rss.toFixed(0)} MiB`);
  const dropped = source.lines.filter((l) => /chunk cut at SNAPSHOT_CHUNK_BYTES/.test(String(l.msg))).reduce((sum, l) => sum + Number(l.dropped), 0);
  assert.ok(dropped < ROWS, `${dropped} rows read past the bound and dropped`);
  console.log(`largest chunk ${(highWater / MiB).toFixed(1)} MiB, source peak RSS ${rss.toFixed(0)} MiB, ${dropped} rows dropped past the bound`);
}

/**
 * Snapshots bounded in bytes: a table of 40 rows of 3 MiB (LONGTEXT and LONGBLOB), 120 MiB in all,
 * with SNAPSHOT_CHUNK_BYTES at 8 MiB and a row bound above the table's size. Both the read-view
 * snapshot and the incremental one (with rows changed while it runs) bring every row into
 * Elasticsearch equal to MariaDB, in chunks of about 8 MiB.
 */
describe('snapshots of large rows, bounded in bytes', () => {
  const pipelines: Pipeline[] = [];
  const connections: mysql.Connection[] = [];
  after(async () => {
    for (const p of pipelines) await p.stopAll();
    for (const c of connections) await c.end();
  });
  const open = async (name: string) => {
    const pipeline = new Pipeline(uniqueName(name));
    pipelines.push(pipeline);
    const conn = await largeRows(pipeline);
    connections.push(conn);
    return { pipeline, conn };
  };

  it('the read-view snapshot reads chunks of about SNAPSHOT_CHUNK_BYTES and every row arrives equal', async () => {
    const { pipeline, conn } = await open('cdc_snapbig');
    await pipeline.startSink();
    const source = await pipeline.startSource({ ...bounds, SNAPSHOT_MODE: 'initial' });
    await waitFor('the snapshot to complete', () => source.lines.some((l) => l.msg === 'snapshot complete; streaming from its position'), 120_000, 200);
    await waitBlobsEqual(conn, pipeline.indexOf('blobs'), ROWS);
    await assertBounded(source);
  });

  it('the incremental snapshot does too, with rows changed while it runs', async () => {
    const { pipeline, conn } = await open('cdc_incrbig');
    await pipeline.startSink();
    const source = await pipeline.startSource({ ...bounds, SNAPSHOT_MODE: 'initial', SNAPSHOT_METHOD: 'incremental', SIGNAL_TABLE: `${pipeline.database}.cdc_signal` });
    const complete = () => source.lines.some((l) => l.msg === 'incremental snapshot complete');
    // Changes between a window's watermarks supersede that window's rows; later ones follow them.
    // Few: each writes two 3 MiB row images to the binlog.
    for (let round = 0; !complete() && round < 8; round++) {
      await conn.query(`UPDATE blobs SET note = 'changed ${round}' WHERE id = ${1 + ((round * 7) % ROWS)}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    await waitFor('the incremental snapshot to complete', complete, 120_000, 200);
    await conn.query(`INSERT INTO blobs VALUES (${ROWS + 1}, 'marker', 'x', NULL)`);
    await waitBlobsEqual(conn, pipeline.indexOf('blobs'), ROWS + 1);
    await assertBounded(source);
  });
});
