import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { testKafka } from '../helpers/kafka.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { stack, stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/** The process's open TCP connections to `port` (its socket descriptors, matched in /proc/net/tcp*). */
function connectionsTo(pid: number, port: number): number {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    const link = (() => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        return '';
      }
    })();
    const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
    if (inode) inodes.add(inode);
  }
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  let count = 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[2]!.endsWith(`:${hexPort}`) && inodes.has(fields[9]!)) count++;
    }
  }
  return count;
}

/**
 * Found by the fault run (seed 760500831, docs/faults.md): the source ran out of heap. With the
 * registry down while a large transaction streamed, every in-process restart left its binlog
 * connection open: zongji's stop half-closes the socket and waits for the server's end, which a
 * socket paused for backpressure (the queue was full) never reads. Each such connection kept its
 * reader and its full queue. Here the registry is stopped during a 100,000-row transaction until
 * the source has restarted several times; its connections to MariaDB must stay bounded, and once
 * the registry is back every row reaches Kafka.
 */
describe('in-process restarts of the source with a full queue', () => {
  const pipeline = new Pipeline(uniqueName('cdc_restarts'));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase('CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(20))');
    await pipeline.startSource();
  });

  after(async () => {
    stack('start', 'registry');
    await pipeline.stopAll();
    await conn?.end();
  });

  it('leave no binlog connection open, and every row arrives once the registry is back', { timeout: 300_000 }, async () => {
    const source = pipeline.source!;
    stack('stop', 'registry');
    await conn.query("INSERT INTO big SELECT seq, concat('big', seq) FROM seq_1_to_100000");
    const readers = () => source.lines.filter((l) => l.msg === 'starting binlog reader').length;
    const startedBefore = readers();
    await waitFor('the source to restart its pipeline five times', () => readers() >= startedBefore + 5, 180_000, 250);
    const open = connectionsTo(source.child.pid!, Number(stackEnv().MYSQL_PORT));
    // The binlog connection and zongji's control connection of the current reader, and the
    // retention check's; each restart that leaked added one.
    assert.ok(open <= 4, `the source holds ${open} connections to MariaDB after ${readers() - startedBefore} restarts`);
    stack('start', 'registry');
    await waitFor(
      'all 100,000 rows in Kafka',
      async () => {
        let records = 0;
        await readTopicToEnd(testKafka(), pipeline.topicOf('big'), () => void records++);
        return records === 100_000;
      },
      180_000,
      2_000,
    );
  });
});
