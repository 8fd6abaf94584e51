import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopic } from '../helpers/kafka.ts';
import { freshDatabase, rootConnection, rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { runCli, startService, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

describe('a stored position purged from the server', () => {
  const pipeline = new Pipeline(uniqueName('cdc_purge'));
  let conn: mysql.Connection;

  function checkSource() {
    return runCli(['check-source'], pipeline.sourceCommandEnv());
  }

  async function currentFile(): Promise<string> {
    const [status] = await rows(conn, 'SHOW MASTER STATUS');
    return String(status!.File);
  }

  before(async () => {
    await freshDatabase(pipeline.database);
    conn = await rootConnection(pipeline.database);
    await conn.query('CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))');
  });
  after(async () => {
    await pipeline.stopAll();
    await conn.end();
  });

  it('shrinks the headroom as binlogs are purged, then refuses to start with SOURCE_POSITION_PURGED', async () => {
    // The stored position's file then starts at least a second after the oldest one.
    await new Promise((r) => setTimeout(r, 1100));
    await conn.query('FLUSH BINARY LOGS');
    await pipeline.startSource({ HEARTBEAT_INTERVAL_MS: '1000' });
    await conn.query("INSERT INTO t VALUES (1, 'a')");
    await waitFor('the change in Kafka', async () => (await readTopic(pipeline.topicOf('t'))).length === 1);
    assert.equal(await pipeline.source!.stop('SIGTERM'), 0);
    const storedFile = await currentFile();

    const first = await checkSource();
    assert.equal(first.status, 0, first.stderr);
    const report1 = (JSON.parse(first.stdout) as { retention: { headroomBytes: number; headroomSeconds: number } }).retention;
    const headroom1 = report1.headroomBytes;

    // Purge what lies before the stored position's file: the position survives, the headroom falls.
    await conn.query(`PURGE BINARY LOGS TO '${storedFile}'`);
    const second = await checkSource();
    assert.equal(second.status, 0, second.stderr);
    const report2 = (JSON.parse(second.stdout) as { retention: { headroomBytes: number; headroomSeconds: number } }).retention;
    const headroom2 = report2.headroomBytes;
    assert.ok(headroom2 < headroom1, `headroom fell from ${headroom1} to ${headroom2}`);
    // In time too, from the binlogs' own start timestamps; the stored file started moments before the position.
    assert.ok(report2.headroomSeconds < report1.headroomSeconds, `headroom fell from ${report1.headroomSeconds} s to ${report2.headroomSeconds} s`);
    assert.ok(report2.headroomSeconds >= 0 && report2.headroomSeconds < 120, `the stored file started ${report2.headroomSeconds} s before the position`);

    // Purge past it while the source is stopped.
    await conn.query("FLUSH BINARY LOGS; INSERT INTO t VALUES (2, 'b'); FLUSH BINARY LOGS");
    await conn.query(`PURGE BINARY LOGS TO '${await currentFile()}'`);
    const third = await checkSource();
    assert.equal(third.status, 2);
    assert.match(third.stderr, new RegExp(`SOURCE_POSITION_PURGED: .*${storedFile.replace('.', '\\.')} was purged`));

    const source = startService('source', pipeline.sourceEnv());
    const code = await source.exited;
    assert.notEqual(code, 0);
    assert.ok(
      source.lines.some((l) => (l.err as { code?: string } | undefined)?.code === 'SOURCE_POSITION_PURGED'),
      'the source logs SOURCE_POSITION_PURGED',
    );
    assert.equal((await readTopic(pipeline.topicOf('t'))).length, 1, 'nothing was skipped into the topic');
  });

  it('warns once when automatic expiry can reach the position, and never while the server keeps binlogs forever', async () => {
    const [setting] = await rows(conn, 'SELECT @@GLOBAL.binlog_expire_logs_seconds AS s');
    assert.equal(Number(setting!.s), 0, 'the stack keeps binlogs forever');
    const warned = (l: Record<string, unknown>) => /can purge the stored position/.test(String(l.msg));
    const source = startService(
      'source',
      pipeline.sourceEnv({
        SOURCE_ID: uniqueName('cdc_warn'),
        START_POSITION: 'latest',
        SNAPSHOT_MODE: 'never',
        RETENTION_CHECK_INTERVAL_MS: '1000',
        RETENTION_WARN_SECONDS: '1000000',
        HEARTBEAT_INTERVAL_MS: '1000',
      }),
    );
    try {
      // Several checks with binlogs never expired: not one warning, however small the headroom.
      await new Promise((r) => setTimeout(r, 4_000));
      assert.equal(source.lines.filter(warned).length, 0, 'no warning while binlogs are never purged automatically');
      // A day of expiry is within the (huge) warning bound: one warning, however many checks follow.
      await conn.query('SET GLOBAL binlog_expire_logs_seconds = 86400');
      await waitFor('the warning', () => source.lines.some(warned), 30_000, 200);
      await new Promise((r) => setTimeout(r, 4_000));
      assert.equal(source.lines.filter(warned).length, 1, 'warned once, not once per check');
      await conn.query('SET GLOBAL binlog_expire_logs_seconds = 0');
      await waitFor('the all-clear', () => source.lines.some((l) => /no longer close to automatic binlog expiry/.test(String(l.msg))), 30_000, 200);
      assert.equal(source.lines.filter(warned).length, 1);
    } finally {
      await conn.query('SET GLOBAL binlog_expire_logs_seconds = 0');
      await source.stop('SIGTERM');
    }
  });

  it('with ON_POSITION_LOST=resnapshot streams from the end and re-snapshots every captured table incrementally', async () => {
    const { MYSQL_USER } = stackEnv();
    await conn.query('CREATE TABLE cdc_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT)');
    for (const host of ['127.0.0.1', 'localhost']) await conn.query(`GRANT INSERT, DELETE ON \`${pipeline.database}\`.cdc_signal TO '${MYSQL_USER}'@'${host}'`);
    const source = await pipeline.startSource({ ON_POSITION_LOST: 'resnapshot', SIGNAL_TABLE: `${pipeline.database}.cdc_signal` });
    await waitFor('the re-snapshot to complete', () => source.lines.some((l) => l.msg === 'incremental snapshot complete'), 120_000, 200);
    await conn.query("INSERT INTO t VALUES (3, 'c')");
    await waitFor('row 3 streamed', async () => (await readTopic(pipeline.topicOf('t'))).some((r) => r.decodedKey?.id === 3));
    const ops = (await readTopic(pipeline.topicOf('t'))).map((r) => `${String(r.decodedValue?.op)}${String(r.decodedKey?.id)}`);
    // Row 2 was written while the position was lost: only the re-snapshot brings it.
    assert.deepEqual(ops, ['c1', 'r1', 'r2', 'c3']);
  });
});
