import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { probeBinlog } from './binlog-probe.ts';

interface ScannedEvent {
  getTypeName(): string;
  timestamp: number;
  nextPosition: number;
  query?: string;
}

/**
 * The first transaction boundary in `file` after which every transaction committed at or after
 * `sinceMs` lies: the start of the first transaction whose commit event is that late (binlog
 * timestamps have whole seconds, so a transaction in the same second is included). Returns
 * undefined when no transaction of the file, up to `endPos`, committed that late. Reads event
 * headers over a short replication connection (probeBinlog); the rows themselves are skipped.
 */
export function transactionStartAfter(connection: MysqlConnectionOptions, serverId: number, file: string, endPos: number, sinceMs: number, timeoutMs = 120_000): Promise<number | undefined> {
  const since = Math.floor(sinceMs / 1000) * 1000;
  // The boundary before the transaction being read, and after the last one that ended.
  let boundary = 4;
  let transactionStart = 4;
  let open = false;
  return probeBinlog<number, ScannedEvent>(
    connection,
    { serverId, filename: file, position: 4, includeEvents: ['rotate', 'query', 'xid', 'xaprepare', 'mariadbgtid', 'gtid', 'anonymousgtid', 'heartbeat'] },
    `scan binlog ${file}`,
    (event: ScannedEvent, finish) => {
      const type = event.getTypeName();
      const query = (event.query ?? '').trim().toUpperCase();
      if (type === 'MariadbGtid' || type === 'Gtid' || type === 'AnonymousGtid' || (type === 'Query' && query === 'BEGIN')) {
        if (!open) transactionStart = boundary;
        open = true;
      } else if (type === 'Xid' || type === 'XaPrepare' || (type === 'Query' && query !== 'BEGIN')) {
        if (event.timestamp >= since) return finish(open ? transactionStart : boundary);
        open = false;
        if (event.nextPosition > 0) boundary = event.nextPosition;
      }
      // The end of the file (a rotation, or a heartbeat at the end of the newest one): nothing found.
      if ((type === 'Rotate' && event.nextPosition > 0) || type === 'Heartbeat' || event.nextPosition >= endPos) finish(undefined);
    },
    timeoutMs,
  );
}
