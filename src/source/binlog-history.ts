import type mysql from 'mysql2/promise';
import { binlogFileIndex, type SourcePosition } from '../core/position.ts';
import type { ServerIdentity } from '../core/source-offsets.ts';
import { type BinaryLog, binaryLogs } from './retention.ts';

/**
 * Whether the stored position still belongs to the binlog the server has now. A file name is not
 * enough: after RESET MASTER (or on a server restored from a backup) the server writes a new
 * `binlog.000001`, and once it grew past the stored offset the old name and offset point into
 * other transactions. So the server's identity and what lies at the stored offset are compared.
 */

/** What the server says about the stored position, read once at start. */
export interface HistoryFacts {
  server: ServerIdentity;
  /** SHOW BINARY LOGS, oldest first. */
  files: BinaryLog[];
  /**
   * MariaDB: BINLOG_GTID_POS(file, pos), the GTID state the server's binlog has at the stored
   * offset ('' at the start of a server's first binlog; null when the offset is no event boundary
   * of that file). Undefined where it was not asked: on MySQL, or when the file is not on the server.
   */
  gtidsAtPosition: string | null | undefined;
  /** MySQL with GTIDs: whether the server has executed every stored GTID (GTID_SUBSET). Undefined elsewhere. */
  gtidsExecuted: boolean | undefined;
}

/** The binlog under the source started again: on another server, or on this one (reset, restored). */
export interface HistoryChange {
  kind: 'server' | 'reset';
  reason: string;
}

/** The server's identity, stored with every position. MariaDB has no server_uuid: then the id alone. */
export async function serverIdentity(conn: mysql.Connection): Promise<ServerIdentity> {
  const [ids] = await conn.query('SELECT @@server_id AS serverId');
  const [uuids] = await conn.query("SHOW GLOBAL VARIABLES LIKE 'server_uuid'");
  const uuid = (uuids as Array<{ Value?: string }>)[0]?.Value;
  return { serverId: Number((ids as Array<{ serverId: unknown }>)[0]!.serverId), ...(uuid ? { uuid } : {}) };
}

export async function readHistoryFacts(conn: mysql.Connection, connector: 'mariadb' | 'mysql', position: SourcePosition): Promise<HistoryFacts> {
  const files = await binaryLogs(conn);
  const file = files.find((f) => f.name === position.file);
  let gtidsAtPosition: string | null | undefined;
  if (connector === 'mariadb' && file && position.pos <= file.size) {
    const [rows] = await conn.query('SELECT BINLOG_GTID_POS(?, ?) AS gtids', [position.file, position.pos]);
    gtidsAtPosition = (rows as Array<{ gtids: string | null }>)[0]?.gtids ?? null;
  }
  let gtidsExecuted: boolean | undefined;
  if (connector === 'mysql' && position.gtids?.includes(':')) {
    const [rows] = await conn.query('SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed) AS executed', [position.gtids]);
    gtidsExecuted = Number((rows as Array<{ executed: unknown }>)[0]?.executed) === 1;
  }
  return { server: await serverIdentity(conn), files, gtidsAtPosition, gtidsExecuted };
}

/**
 * How the server's binlog differs from the one the stored position was read from, or undefined
 * when it is the same one as far as can be told. A position whose file was purged is not a change
 * of history: the retention check reports that. Records stored without the server's identity are
 * compared by position only.
 */
export function historyChange(stored: { position: SourcePosition; server: ServerIdentity | undefined }, facts: HistoryFacts): HistoryChange | undefined {
  const { position, server } = stored;
  if (server && server.serverId !== facts.server.serverId)
    return { kind: 'server', reason: `the server's server_id is ${facts.server.serverId}, the stored position was read from server_id ${server.serverId}` };
  if (server?.uuid && facts.server.uuid && server.uuid !== facts.server.uuid) {
    return { kind: 'server', reason: `the server's server_uuid is ${facts.server.uuid}, the stored position was read from ${server.uuid}` };
  }
  const reset = (what: string): HistoryChange => ({ kind: 'reset', reason: `${what}: the binlog was reset (RESET MASTER) or the server restored` });
  const newest = facts.files.at(-1)!;
  if (position.fileIndex > binlogFileIndex(newest.name)) return reset(`the stored position is in ${position.file}, but the newest binlog on the server is ${newest.name}`);
  const file = facts.files.find((f) => f.name === position.file);
  if (!file) return position.fileIndex < binlogFileIndex(facts.files[0]!.name) ? undefined : reset(`${position.file} is not among the server's binlogs`);
  if (file.size < position.pos) return reset(`${file.name} holds ${file.size} bytes, fewer than the stored offset ${position.pos}`);
  if (facts.gtidsAtPosition === null) return reset(`${file.name}:${position.pos} is not where an event starts in the server's binlog`);
  if (facts.gtidsAtPosition !== undefined && position.gtids) {
    const there = gtidsByDomain(facts.gtidsAtPosition);
    const differing = [...gtidsByDomain(position.gtids)].filter(([domain, gtid]) => there.get(domain) !== gtid);
    if (differing.length > 0) {
      return reset(`the server's binlog at ${file.name}:${position.pos} follows GTIDs ${facts.gtidsAtPosition || '(none)'}, the stored position follows ${position.gtids}`);
    }
  }
  if (facts.gtidsExecuted === false) return reset(`the server has not executed the stored GTIDs ${position.gtids}`);
  return undefined;
}

/** MariaDB `domain-server-seq` list → the entry per domain. */
function gtidsByDomain(gtids: string): Map<string, string> {
  const byDomain = new Map<string, string>();
  for (const match of gtids.matchAll(/(\d+)-\d+-\d+/g)) byDomain.set(match[1]!, match[0]);
  return byDomain;
}
