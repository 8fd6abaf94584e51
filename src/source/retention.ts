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
  /** The server's limit on the binlogs' total size (MariaDB 11.4+ `max_binlog_total_size`; 0: none). */
  retentionBytes: number;
  /** Binlog bytes from the stored position to the end of the newest binlog: what a size limit counts against it. */
  bytesAfterPosition: number;
}

/** How close automatic expiry can bring a purge to the stored position, against the warning thresholds. */
export interface PurgeRiskInput {
  retentionSeconds: number;
  retentionBytes: number;
  bytesAfterPosition: number;
  /** Commit time of the last change the stored position covers (or of its last idle commit). */
  positionTimeMs: number;
}

/**
 * Why the server may purge the stored position soon, or undefined when it cannot: only automatic
 * expiry by age (`binlog_expire_logs_seconds`, `expire_logs_days`) or by total size can reach a
 * position on its own. With neither set the server never purges by itself; a manual PURGE still can,
 * and the start-up and periodic checks catch that as SOURCE_POSITION_PURGED.
 */
export function purgeRisk(input: PurgeRiskInput, nowMs: number, warn: { seconds: number; bytes: number }): string | undefined {
  const reasons: string[] = [];
  if (input.retentionSeconds > 0) {
    // The position's file expires no earlier than retention after the position's own time.
    const inSeconds = Math.round(input.positionTimeMs / 1000 + input.retentionSeconds - nowMs / 1000);
    if (inSeconds < warn.seconds) reasons.push(`binlog expiry after ${input.retentionSeconds} s can purge it in about ${Math.max(0, inSeconds)} s (RETENTION_WARN_SECONDS=${warn.seconds})`);
  }
  if (input.retentionBytes > 0) {
    const inBytes = input.retentionBytes - input.bytesAfterPosition;
    if (inBytes < warn.bytes) reasons.push(`the binlog size limit of ${input.retentionBytes} bytes can purge it after about ${Math.max(0, inBytes)} more bytes (RETENTION_WARN_BYTES=${warn.bytes})`);
  }
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

/**
 * Remembers whether the position is at risk, so the source logs a change of that condition once
 * (raised, then cleared) instead of once per check.
 */
export class PurgeRiskAlarm {
  #risk: string | undefined;

  /** 'raised' when the position became at risk, 'cleared' when it no longer is; undefined when nothing changed. */
  update(risk: string | undefined): 'raised' | 'cleared' | undefined {
    const was = this.#risk !== undefined;
    this.#risk = risk;
    if (risk !== undefined && !was) return 'raised';
    if (risk === undefined && was) return 'cleared';
    return undefined;
  }
}

export interface BinaryLog {
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
  const { retentionSeconds, retentionBytes } = await retentionSettings(conn);
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
  let totalBytes = 0;
  let reached = false;
  for (const log of logs) {
    reached ||= log.name === position.file;
    if (!reached) headroomBytes += log.size;
    totalBytes += log.size;
  }
  headroomBytes += position.pos;
  const headroomSeconds = Math.max(0, Math.round((timing.positionTimeMs - (await timing.startTimeOf(oldest.name))) / 1000));
  return { oldestFile: oldest.name, headroomBytes, headroomSeconds, retentionSeconds, retentionBytes, bytesAfterPosition: Math.max(0, totalBytes - headroomBytes) };
}

export async function binaryLogs(conn: mysql.Connection): Promise<BinaryLog[]> {
  const [logRows] = await conn.query('SHOW BINARY LOGS');
  const logs: BinaryLog[] = (logRows as Array<Record<string, unknown>>).map((r) => ({ name: String(r.Log_name), size: Number(r.File_size) }));
  if (logs.length === 0) throw new CdcError('SOURCE_PRECONDITION_FAILED', 'The server lists no binary logs (SHOW BINARY LOGS is empty): is log_bin on?');
  return logs;
}

/** The oldest binlog file the server still has: where START_POSITION=earliest begins. */
export async function oldestBinlogFile(conn: mysql.Connection): Promise<string> {
  return (await binaryLogs(conn))[0]!.name;
}

/** Automatic expiry by age and by total size; a variable the server does not have counts as 0 (none). */
async function retentionSettings(conn: mysql.Connection): Promise<{ retentionSeconds: number; retentionBytes: number }> {
  const [rows] = await conn.query("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('binlog_expire_logs_seconds', 'expire_logs_days', 'max_binlog_total_size', 'binlog_space_limit')");
  let retentionSeconds = 0;
  let retentionBytes = 0;
  for (const row of rows as Array<{ Variable_name: string; Value: string }>) {
    const value = Number(row.Value);
    if (!(value > 0)) continue;
    if (row.Variable_name === 'binlog_expire_logs_seconds') retentionSeconds = value;
    if (row.Variable_name === 'expire_logs_days' && retentionSeconds === 0) retentionSeconds = value * 86_400;
    if (row.Variable_name === 'max_binlog_total_size' || row.Variable_name === 'binlog_space_limit') retentionBytes = value;
  }
  return { retentionSeconds, retentionBytes };
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
