import { openTableConnection, readChunkRows, tableSchema } from '../src/source/table-reader.ts';
import { loadSchemaRules, schemaRules } from '../src/source/table-schema.ts';
import { stackEnv } from '../test/helpers/stack.ts';
import { cpuByProcess, cpuUsPer } from './process-cpu.ts';
import type { ReadFigure } from './budget.ts';

/**
 * The snapshot's reading alone, in this process: the same read view, chunk queries and canonical
 * rows as the source's (table-reader.ts), `chunkRows` a chunk, with nothing transformed, encoded
 * or sent. Its rate and CPU a row (this process's and MariaDB's) are the part of the snapshot's
 * budget that no encoding or producing can avoid.
 */
export async function snapshotReadAlone(database: string, table: string, chunkRows: number): Promise<ReadFigure> {
  const env = stackEnv();
  const conn = await openTableConnection({ host: env.MYSQL_HOST, port: Number(env.MYSQL_PORT), user: env.MYSQL_USER, password: env.MYSQL_PASSWORD });
  try {
    const rules = schemaRules({ KEY_COLUMNS: undefined, ZERO_DATES: 'null', ZERO_DATE_SENTINEL: '1970-01-01' });
    await loadSchemaRules(rules, conn);
    const schema = await tableSchema(conn, database, table, rules);
    await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
    const before = await cpuByProcess({});
    const started = performance.now();
    let rows = 0;
    let after: unknown[] | undefined;
    for (let more = true; more; ) {
      const end = await readChunkRows(conn, schema, { after, limit: chunkRows, maxBytes: Number.POSITIVE_INFINITY }, () => {
        rows += 1;
      });
      more = end.more;
      after = end.lastKey;
    }
    const seconds = (performance.now() - started) / 1000;
    const cpu = await cpuByProcess({});
    return { rate: rows / seconds, readerUs: cpuUsPer(before, cpu, 'bench', rows), mariadbUs: cpuUsPer(before, cpu, 'MariaDB', rows) };
  } finally {
    await conn.end();
  }
}
