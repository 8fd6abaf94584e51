import type ZongJi from '@vlasky/zongji';

/** At most this long between two heartbeats, whatever the stall bound (a replica's default is 30 s too). */
const MAX_HEARTBEAT_SECONDS = 30;

/**
 * Asks the server to send a Heartbeat event whenever the replication connection had nothing to
 * send for `seconds`, as a replica's MASTER_HEARTBEAT_PERIOD does: an idle but healthy stream then
 * still shows signs of life, and a silent one is dead (partition, hung server). The server reads
 * `@master_heartbeat_period` when the dump command arrives; zongji emits 'ready' after its own
 * set-up queries, just before it queues that command on the same connection, so this runs first.
 */
export function requestHeartbeats(zongji: ZongJi, seconds: number, onError: (error: unknown) => void): void {
  zongji.once('ready', () => {
    const connection = (zongji as unknown as { connection?: { query(sql: string, done: (error: unknown) => void): void } }).connection;
    connection?.query(`SET @master_heartbeat_period = ${Math.round(seconds * 1e9)}`, (error) => {
      if (error) onError(error);
    });
  });
}

/** The heartbeat period for a stall bound, to a tenth of a second: three heartbeats fit in it, so a late one does not look like a silence. */
export function heartbeatSeconds(stallSeconds: number): number {
  return Math.min(MAX_HEARTBEAT_SECONDS, Math.round((stallSeconds / 3) * 10) / 10);
}
