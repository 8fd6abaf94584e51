import ZongJi from '@vlasky/zongji';
import { CdcError, errorMessage } from '../core/errors.ts';
import type { MysqlConnectionOptions } from './binlog-reader.ts';

/**
 * When a binlog file was started: the timestamp of its first real event (the Format_description;
 * the artificial Rotate sent first has none), read over a short replication connection since no
 * statement exposes it. The connection presents `probeServerId`, which must differ from every
 * replica's (a server drops the older connection of a duplicate id), and stops after that event.
 */
export function binlogStartTime(connection: MysqlConnectionOptions, file: string, probeServerId: number, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const zongji = new ZongJi({ ...connection, charset: 'utf8mb4' } as never);
    let settled = false;
    const finish = (error: unknown, ms?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      zongji.stop();
      if (ms !== undefined) resolve(ms);
      else reject(new CdcError('SOURCE_UNREACHABLE', `Cannot read the start time of binlog ${file}: ${errorMessage(error)}`, { cause: error, retriable: true }));
    };
    const timer = setTimeout(() => finish(new Error('timed out')), timeoutMs);
    zongji.on('binlog', (event: { timestamp?: number }) => {
      if (event.timestamp) finish(undefined, event.timestamp);
    });
    zongji.on('error', (error: unknown) => finish(error));
    zongji.start({ serverId: probeServerId, filename: file, position: 4, includeEvents: ['rotate', 'format'] } as never);
  });
}
