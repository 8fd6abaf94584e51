import { CdcError } from '../core/errors.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { probeBinlog } from './binlog-probe.ts';

/**
 * When a binlog file was started: the timestamp of its first real event (the Format_description;
 * the artificial Rotate sent first has none), read over a short replication connection since no
 * statement exposes it. The connection presents `probeServerId` and stops after that event.
 */
export async function binlogStartTime(connection: MysqlConnectionOptions, file: string, probeServerId: number, timeoutMs = 10_000): Promise<number> {
  const ms = await probeBinlog<number, { timestamp?: number }>(
    connection,
    { serverId: probeServerId, filename: file, position: 4, includeEvents: ['rotate', 'format'] },
    `read the start time of binlog ${file}`,
    (event: { timestamp?: number }, finish) => {
      if (event.timestamp) finish(event.timestamp);
    },
    timeoutMs,
  );
  if (ms === undefined) throw new CdcError('SOURCE_UNREACHABLE', `Cannot read the start time of binlog ${file}`, { retriable: true });
  return ms;
}
