import mysql from 'mysql2/promise';
import { SourcePosition } from '../src/core/position.ts';
import { isBoundary, type StreamItem } from '../src/source/stream-items.ts';
import { loadSchemaRules, schemaRules } from '../src/source/table-schema.ts';
// Registered before zongji loads (below, on first use), as the source's cli.ts does.
import { rowReadersHooked } from '../src/source/zongji-patches.ts';
import { stackEnv } from '../test/helpers/stack.ts';
import { cpuByProcess, cpuUsPer } from './process-cpu.ts';
import type { ReadFigure } from './budget.ts';

/**
 * Streaming's reading alone, in this process: the source's binlog reader (zongji and its row
 * reader into canonical changes) over the binlog from `from` until `changes` changes of
 * `database` arrived, with nothing transformed, encoded or sent. The rate is from the first
 * change to the last; the CPU (this process's and MariaDB's) includes connecting, a few
 * milliseconds.
 */
export async function binlogReadAlone(from: { file: string; pos: number }, database: string, changes: number): Promise<ReadFigure> {
  // zongji is loaded here, after its patches' hook is in place: nothing in the bench's static
  // imports loads it, so the reader reads rows as the source's does.
  const { BinlogReader } = await import('../src/source/binlog-reader.ts');
  if (!rowReadersHooked) throw new Error("zongji was loaded before its patches: the reading alone would not be the source's");
  const env = stackEnv();
  const connection = { host: env.MYSQL_HOST, port: Number(env.MYSQL_PORT), user: env.MYSQL_USER, password: env.MYSQL_PASSWORD };
  const rules = schemaRules({ KEY_COLUMNS: undefined, ZERO_DATES: 'null', ZERO_DATE_SENTINEL: '1970-01-01' });
  const conn = await mysql.createConnection(connection);
  await loadSchemaRules(rules, conn).finally(() => conn.end());
  let seen = 0;
  let first = 0;
  let last = 0;
  const { promise: read, resolve, reject } = Promise.withResolvers<void>();
  const output = {
    push(item: StreamItem): void {
      if (isBoundary(item)) return;
      last = performance.now();
      if (seen === 0) first = last;
      seen += 1;
      if (seen === changes) resolve();
    },
    expectBurst(): void {},
  };
  const reader = new BinlogReader(connection, 4_000_000 + (process.pid % 1_000_000), (db) => db === database, rules, output);
  reader.on('error', reject);
  const before = await cpuByProcess({});
  await reader.start(new SourcePosition(from.file, from.pos));
  try {
    await read;
  } finally {
    await reader.stop();
  }
  const cpu = await cpuByProcess({});
  return { rate: changes / ((last - first) / 1000), readerUs: cpuUsPer(before, cpu, 'bench', changes), mariadbUs: cpuUsPer(before, cpu, 'MariaDB', changes) };
}
