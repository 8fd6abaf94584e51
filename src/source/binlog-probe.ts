import ZongJi from '@vlasky/zongji';
import { CdcError, errorMessage } from '../core/errors.ts';
import { requestHeartbeats } from './binlog-heartbeat.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';

/** What a probe's event handler can do: end the probe with a value (undefined: found nothing). */
export type ProbeFinish<T> = (value: T | undefined) => void;

/**
 * A short replication connection that reads a few events and stops: binlog file start times,
 * time searches. It presents `serverId`, which must differ from every replica's (a server drops
 * the older connection of a duplicate id); the connection also asks for server heartbeats every
 * second, so a read that reaches the end of the binlog hears a Heartbeat instead of waiting.
 */
export function probeBinlog<T, E = unknown>(
  connection: MysqlConnectionOptions,
  start: { serverId: number; filename: string; position: number; includeEvents: string[] },
  what: string,
  onEvent: (event: E, finish: ProbeFinish<T>) => void,
  timeoutMs: number,
): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const zongji = new ZongJi({ ...connection, charset: 'utf8mb4' } as never);
    let settled = false;
    const end = (error: unknown, value?: T) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      zongji.stop();
      if (error) reject(new CdcError('SOURCE_UNREACHABLE', `Cannot ${what}: ${errorMessage(error)}`, { cause: error, retriable: true }));
      else resolve(value);
    };
    const timer = setTimeout(() => end(new Error('timed out')), timeoutMs);
    zongji.on('binlog', (event: unknown) => onEvent(event as E, (value) => end(undefined, value)));
    zongji.on('error', (error: unknown) => end(error));
    // A failed request only costs the wait for the timeout.
    requestHeartbeats(zongji, 1, () => undefined);
    zongji.start(start as never);
  });
}
