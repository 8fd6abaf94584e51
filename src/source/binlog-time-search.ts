import ZongJi from '@vlasky/zongji';
import { CdcError, errorMessage } from '../core/errors.ts';
import type { MysqlConnectionOptions } from './binlog-reader.ts';

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
 * headers over a short replication connection; the rows themselves are skipped.
 */
export function transactionStartAfter(connection: MysqlConnectionOptions, serverId: number, file: string, endPos: number, sinceMs: number, timeoutMs = 120_000): Promise<number | undefined> {
  const since = Math.floor(sinceMs / 1000) * 1000;
  return new Promise((resolve, reject) => {
    const zongji = new ZongJi({ ...connection, charset: 'utf8mb4' } as never);
    let settled = false;
    const finish = (error: unknown, position?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      zongji.stop();
      if (error) reject(new CdcError('SOURCE_UNREACHABLE', `Cannot scan binlog ${file}: ${errorMessage(error)}`, { cause: error, retriable: true }));
      else resolve(position);
    };
    const timer = setTimeout(() => finish(new Error('timed out')), timeoutMs);
    // The boundary before the transaction being read, and after the last one that ended.
    let boundary = 4;
    let transactionStart = 4;
    let open = false;
    zongji.on('binlog', (event: ScannedEvent) => {
      const type = event.getTypeName();
      const query = (event.query ?? '').trim().toUpperCase();
      if (type === 'MariadbGtid' || type === 'Gtid' || type === 'AnonymousGtid' || (type === 'Query' && query === 'BEGIN')) {
        if (!open) transactionStart = boundary;
        open = true;
      } else if (type === 'Xid' || type === 'XaPrepare' || (type === 'Query' && query !== 'BEGIN')) {
        if (event.timestamp >= since) return finish(undefined, open ? transactionStart : boundary);
        open = false;
        if (event.nextPosition > 0) boundary = event.nextPosition;
      }
      if ((type === 'Rotate' && event.nextPosition > 0) || type === 'Heartbeat' || event.nextPosition >= endPos) finish(undefined, undefined);
    });
    zongji.on('error', (error: unknown) => finish(error));
    zongji.start({ serverId, filename: file, position: 4, includeEvents: ['rotate', 'query', 'xid', 'xaprepare', 'mariadbgtid', 'gtid', 'anonymousgtid', 'heartbeat'] } as never);
    // An idle server sends a heartbeat at the end of the binlog, so the scan of the newest file ends.
    (zongji as unknown as { connection?: { query(sql: string, done: () => void): void } }).connection?.query('SET @master_heartbeat_period = 1000000000', () => undefined);
  });
}
