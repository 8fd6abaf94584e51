import type { Connection as CoreConnection, QueryError, QueryOptions } from 'mysql2';
import type mysql from 'mysql2/promise';

/**
 * Runs a query and hands its rows to `onRow` one at a time, as the server sends them: nothing
 * gathers the result, so a result of any size passes in the memory of one row (mysql2's promise
 * API would build the whole result array first). Resolves at the end of the result; rejects with
 * the server's or the connection's error, or with the first error `onRow` threw (the rows after it
 * are read through and ignored, so the connection stays usable).
 */
export function forEachRow(conn: mysql.Connection, query: { sql: string; values: unknown[]; typeCast?: QueryOptions['typeCast'] }, onRow: (row: Record<string, unknown>) => void): Promise<void> {
  // The callback connection under the promise wrapper (there at run time, not in its typings): its
  // queries emit rows one by one.
  const core = (conn as unknown as { connection: CoreConnection }).connection;
  return new Promise<void>((resolve, reject) => {
    let failure: { error: unknown } | undefined;
    // mysql2 reports a lost connection to the connection, not to a query that has no callback.
    const lost = (error: unknown) => settle({ error });
    const settle = (outcome?: { error: unknown }) => {
      core.removeListener('error', lost);
      if (outcome) reject(outcome.error);
      else resolve();
    };
    core.on('error', lost);
    // A typeCast left undefined is mysql2's own conversion.
    const running = core.query(query);
    running.on('result', (row: unknown) => {
      if (failure) return;
      try {
        onRow(row as Record<string, unknown>);
      } catch (error) {
        failure = { error };
      }
    });
    running.on('error', (error: QueryError) => settle({ error }));
    running.on('end', () => settle(failure));
  });
}
