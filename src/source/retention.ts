import type mysql from 'mysql2/promise';
import { CdcError } from '../core/errors.ts';
import { binlogFileIndex, type SourcePosition } from '../core/position.ts';

export interface RetentionReport {
  /** Oldest binlog file still on the server. */
  oldestFile: string;
  /** Binlog bytes between the oldest retained byte and the position: how much can be purged before it is lost. */
  headroomBytes: number;
  /**
   * Seconds of binlog history between the oldest binlog's start and the position's time (the
   * commit time of the last change it covers): how far back the server still reaches.
   */
  headroomSeconds: number;
  /** The server's retention setting, when it has one (0: binlogs are never purged automatically). */
  retentionSeconds: number;
}

interface BinaryLog {
  name: string;
  size: number;
}

/**
 * Where `position` stands against the binlogs the server still has. Throws
 * SOURCE_POSITION_PURGED when the position's file is gone, or (MariaDB, GTID resume) when the
 * oldest binlog starts after a GTID the position still needs — never silently skips ahead.
 */
export async function checkRetention(conn: mysql.Connection, position: SourcePosition, timing: { positionTimeMs: number; startTimeOf: (file: string) => Promise<number> }): Promise<RetentionReport> {
  const logs = await binaryLogs(conn);
  const oldest = logs[0]!;
  const retentionSeconds = await retentionSetting(conn);
  const purged = (what: string) =>
    new CdcError('SOURCE_POSITION_PURGED', `The stored source position ${position.toString()} is no longer on the server: ${what}. The oldest binlog is ${oldest.name}.`, {
      hint: 'Changes between the stored position and the oldest binlog are lost to this source. Re-snapshot the captured tables (or reset the position with `cdc offsets reset` if you accept the gap), and raise binlog retention (binlog_expire_logs_seconds / expire_logs_days) above the longest time the source can be stopped.',
      details: { stored: position.toJSON(), oldestFile: oldest.name },
    });

  if (binlogFileIndex(position.file) < binlogFileIndex(oldest.name)) throw purged(`its file ${position.file} was purged`);
  if (position.gtids && !position.gtids.includes(':')) {
    const missing = await mariadbGtidsPurged(conn, oldest.name, position.gtids);
    if (missing.length > 0) throw purged(`the transactions after ${missing.join(', ')} are only in purged binlogs`);
  }
  let headroomBytes = 0;
  for (const log of logs) {
    if (log.name === position.file) break;
    headroomBytes += log.size;
  }
  const headroomSeconds = Math.max(0, Math.round((timing.positionTimeMs - (await timing.startTimeOf(oldest.name))) / 1000));
  return { oldestFile: oldest.name, headroomBytes: headroomBytes + position.pos, headroomSeconds, retentionSeconds };
}

async function binaryLogs(conn: mysql.Connection): Promise<BinaryLog[]> {
  const [logRows] = await conn.query('SHOW BINARY LOGS');
  const logs: BinaryLog[] = (logRows as Array<Record<string, unknown>>).map((r) => ({ name: String(r.Log_name), size: Number(r.File_size) }));
  if (logs.length === 0) throw new CdcError('SOURCE_PRECONDITION_FAILED', 'The server lists no binary logs (SHOW BINARY LOGS is empty): is log_bin on?');
  return logs;
}

/** The oldest binlog file the server still has: where START_POSITION=earliest begins. */
export async function oldestBinlogFile(conn: mysql.Connection): Promise<string> {
  return (await binaryLogs(conn))[0]!.name;
}

async function retentionSetting(conn: mysql.Connection): Promise<number> {
  const [rows] = await conn.query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_expire_logs_seconds', 'expire_logs_days')");
  let seconds = 0;
  for (const row of rows as Array<{ Variable_name: string; Value: string }>) {
    const value = Number(row.Value);
    if (row.Variable_name === 'binlog_expire_logs_seconds' && value > 0) seconds = value;
    if (row.Variable_name === 'expire_logs_days' && value > 0 && seconds === 0) seconds = value * 86_400;
  }
  return seconds;
}

/**
 * MariaDB: the oldest binlog begins with a Gtid_list event, the last GTID of each domain written
 * before that file. A stored GTID of a domain below that one means the transactions between them
 * were only in purged files. Returns the stored GTIDs that are no longer enough.
 */
async function mariadbGtidsPurged(conn: mysql.Connection, oldestFile: string, gtids: string): Promise<string[]> {
  const [events] = await conn.query(`SHOW BINLOG EVENTS IN ${conn.escape(oldestFile)} LIMIT 3`);
  const list = (events as Array<{ Event_type: string; Info: string }>).find((e) => e.Event_type === 'Gtid_list');
  if (!list) return [];
  const before = new Map<number, bigint>();
  for (const match of list.Info.matchAll(/(\d+)-(\d+)-(\d+)/g)) {
    const domain = Number(match[1]);
    const seq = BigInt(match[3]!);
    if (seq > (before.get(domain) ?? -1n)) before.set(domain, seq);
  }
  const stored = new Map<number, bigint>();
  for (const match of gtids.matchAll(/(\d+)-(\d+)-(\d+)/g)) stored.set(Number(match[1]), BigInt(match[3]!));
  const missing: string[] = [];
  for (const [domain, seq] of before) {
    const have = stored.get(domain);
    if (have === undefined ? seq > 0n : have < seq) missing.push(have === undefined ? `domain ${domain} (not in the stored position)` : `${domain}-*-${have}`);
  }
  return missing;
}
