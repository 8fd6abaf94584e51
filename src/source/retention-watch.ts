import type { Logger } from '../core/logger.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import type { SourcePosition } from '../core/position.ts';
import { probeServerId, type SourceConfig } from '../config/source.ts';
import { binlogStartTime } from './binlog-start-time.ts';
import type { CommittedPosition } from './committed-position.ts';
import { withConnection } from './mysql-connection.ts';
import { checkRetention, PurgeRiskAlarm, purgeRisk, type RetentionReport } from './retention.ts';
import type { SourceMetrics } from './source-metrics.ts';

/**
 * Watches the stored position against the binlogs the server keeps: at start and every
 * RETENTION_CHECK_INTERVAL_MS while streaming. Exports the headroom, warns once when automatic expiry
 * can reach the position, and fails with SOURCE_POSITION_PURGED when it already did. Kept across
 * pipeline restarts, so a restart neither repeats a warning nor reads a file's start time again.
 */
export class RetentionWatch {
  readonly #config: SourceConfig;
  readonly #connection: MysqlConnectionOptions;
  readonly #committed: CommittedPosition;
  readonly #metrics: SourceMetrics;
  readonly #log: Logger;
  readonly #alarm = new PurgeRiskAlarm();
  /** A binlog file's start time never changes: read once per file. */
  readonly #fileStarts = new Map<string, number>();
  #checkedAt = 0;
  /** The last report, for /status. */
  report: RetentionReport | undefined;

  constructor(config: SourceConfig, connection: MysqlConnectionOptions, committed: CommittedPosition, metrics: SourceMetrics, log: Logger) {
    this.#config = config;
    this.#connection = connection;
    this.#committed = committed;
    this.#metrics = metrics;
    this.#log = log;
  }

  /** Checks the committed position when the interval has passed since the last check. */
  async checkWhenDue(): Promise<void> {
    const position = this.#committed.position;
    if (!position || Date.now() - this.#checkedAt <= this.#config.RETENTION_CHECK_INTERVAL_MS) return;
    this.#checkedAt = Date.now();
    await this.check(position);
  }

  /** Fails with SOURCE_POSITION_PURGED when `position` is gone; exports the headroom. */
  async check(position: SourcePosition): Promise<void> {
    const positionTimeMs = this.#committed.positionTime || Date.now();
    const report = await withConnection(this.#connection, (conn) => checkRetention(conn, position, { positionTimeMs, startTimeOf: (file) => this.#startTime(file) }));
    this.report = report;
    this.#metrics.headroomBytes.set(report.headroomBytes);
    this.#metrics.headroomSeconds.set(report.headroomSeconds);
    this.#metrics.retentionSeconds.set(report.retentionSeconds);
    const risk = purgeRisk({ ...report, positionTimeMs }, Date.now(), { seconds: this.#config.RETENTION_WARN_SECONDS, bytes: this.#config.RETENTION_WARN_BYTES });
    const change = this.#alarm.update(risk);
    if (change === 'raised')
      this.#log.warn({ ...report, position: position.toJSON(), risk }, 'automatic binlog expiry can purge the stored position soon: raise binlog retention, or the source may lose its position');
    if (change === 'cleared') this.#log.info({ ...report, position: position.toJSON() }, 'the stored position is no longer close to automatic binlog expiry');
  }

  async #startTime(file: string): Promise<number> {
    let ms = this.#fileStarts.get(file);
    if (ms === undefined) {
      ms = await binlogStartTime(this.#connection, file, probeServerId(this.#config));
      this.#fileStarts.set(file, ms);
    }
    return ms;
  }
}
