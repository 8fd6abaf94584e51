import { CdcError } from '../core/errors.ts';
import type { SourcePosition } from '../core/position.ts';
import { epochOutOfRange, MAX_EPOCH } from '../core/version.ts';
import type { SourceConfig } from '../config/source.ts';
import type { HistoryChange } from './binlog-history.ts';
import type { IncrementalProgress } from './incremental-snapshot.ts';
import type { SnapshotProgress } from './snapshot.ts';

/** What start-up knows before it decides: the stored offset, what the server says of it, the configuration. */
export interface StartFacts {
  stored: { position: SourcePosition; snapshot?: SnapshotProgress | undefined; incremental?: IncrementalProgress | undefined } | undefined;
  /** SOURCE_POSITION_PURGED (or another retention failure) when the stored position was checked against the server. */
  retentionError: CdcError | undefined;
  /** How the server's binlog differs from the one the stored position was read from (binlog-history.ts). */
  history: HistoryChange | undefined;
  connector: 'mariadb' | 'mysql';
  serverVersion: string;
  config: Pick<SourceConfig, 'SNAPSHOT_MODE' | 'SNAPSHOT_METHOD' | 'ON_POSITION_LOST' | 'SIGNAL_TABLE' | 'START_POSITION' | 'RESUME_BY'>;
}

/** What the source does at start, in order: an optional read-view snapshot, then streaming (or stopping). */
export type StartPlan =
  | { action: 'fail'; error: CdcError }
  | {
      action: 'run';
      /** Set when the stored position was purged and is given up: why, for the log. */
      positionLost: string | undefined;
      /** Set when the stored GTIDs are resumed from on another server: why, for the log. */
      otherServer: string | undefined;
      /**
       * The binlog epoch of every position and record of this run: the stored one, or the next
       * when the binlog started again (another server, a reset, a new snapshot replacing a lost
       * position), so versions keep increasing across it.
       */
      epoch: number;
      /** A read-view snapshot to take (or resume) before streaming. */
      snapshot: { resume: SnapshotProgress | undefined } | undefined;
      /** SNAPSHOT_MODE=initial_only: stop once the snapshot (if any) is complete. */
      stopAfterSnapshot: boolean;
      /** Why every captured table is snapshotted incrementally while streaming, when it is. */
      incrementalAll: string | undefined;
      /** An unfinished incremental snapshot to continue. */
      resumeIncremental: IncrementalProgress | undefined;
      /**
       * Where streaming starts: the stored position, the snapshot's position, the end of the binlog
       * (stored before reading, so a crash before the first change resumes there) or the oldest
       * binlog file still on the server.
       */
      streamFrom: 'stored' | 'snapshot' | 'binlog-end' | 'oldest';
    };

/**
 * The start plan: a pure function of the stored offset, the server's answer about it and the
 * configuration, so every combination is stated (and tested) in one table, without I/O.
 */
export function planStart(facts: StartFacts): StartPlan {
  const { config, history } = facts;
  let { stored, retentionError } = facts;
  let positionLost: string | undefined;
  let otherServer: string | undefined;
  let incrementalAll: string | undefined;
  const storedEpoch = stored?.position.epoch ?? 0;
  if (stored && history) {
    // GTIDs name the same transactions on every server of a replication topology; a reset server reuses them for others.
    if (history.kind === 'server' && stored.position.gtids && config.RESUME_BY === 'gtid') otherServer = `${history.reason}: resuming from the stored GTIDs in a new binlog epoch`;
    else retentionError = positionGone(stored.position, history);
  }
  if (stored && retentionError) {
    const purged = retentionError.code === 'SOURCE_POSITION_PURGED';
    // An unfinished snapshot, when_needed or ON_POSITION_LOST=resnapshot snapshot again instead of failing.
    if (purged && !stored.snapshot && config.ON_POSITION_LOST === 'resnapshot') incrementalAll = 'ON_POSITION_LOST=resnapshot';
    if (!purged || !(stored.snapshot || incrementalAll || config.SNAPSHOT_MODE === 'when_needed')) return { action: 'fail', error: retentionError };
    positionLost = incrementalAll
      ? 'the stored position is no longer on the server: streaming from the end of the binlog and re-snapshotting every captured table incrementally, in a new binlog epoch'
      : 'the stored position is no longer on the server: taking a new snapshot of every captured table, in a new binlog epoch';
    stored = undefined;
  }
  const epoch = positionLost || otherServer ? storedEpoch + 1 : storedEpoch;
  if (epoch > MAX_EPOCH) return { action: 'fail', error: epochOutOfRange(epoch) };
  const method = config.SNAPSHOT_METHOD === 'auto' ? (facts.connector === 'mysql' ? 'incremental' : 'read_view') : config.SNAPSHOT_METHOD;
  if (config.SNAPSHOT_MODE !== 'never' && !stored && method === 'incremental') {
    if (!config.SIGNAL_TABLE || config.SNAPSHOT_MODE === 'initial_only') {
      return {
        action: 'fail',
        error: new CdcError(
          'SOURCE_PRECONDITION_FAILED',
          `This server (${facts.serverVersion}) cannot pin a read view to a binlog position, so its initial snapshot runs incrementally, which needs SIGNAL_TABLE and streams while it runs`,
          { hint: 'Create a signal table and set SIGNAL_TABLE (see README, incremental snapshots), with SNAPSHOT_MODE=initial; or SNAPSHOT_MODE=never.' },
        ),
      };
    }
    incrementalAll = `initial snapshot (SNAPSHOT_METHOD=${config.SNAPSHOT_METHOD})`;
  }
  const readView = config.SNAPSHOT_MODE !== 'never' && !incrementalAll && (!stored || stored.snapshot !== undefined);
  return {
    action: 'run',
    positionLost,
    otherServer,
    epoch,
    snapshot: readView ? { resume: stored?.snapshot } : undefined,
    stopAfterSnapshot: config.SNAPSHOT_MODE === 'initial_only',
    incrementalAll,
    resumeIncremental: stored?.incremental,
    streamFrom: readView ? 'snapshot' : stored ? 'stored' : config.START_POSITION === 'latest' || incrementalAll ? 'binlog-end' : 'oldest',
  };
}

/** A stored position whose binlog history the server no longer has is lost, as a purged one is. */
export function positionGone(position: SourcePosition, history: HistoryChange): CdcError {
  return new CdcError('SOURCE_POSITION_PURGED', `The stored source position ${position.toString()} is no longer on the server: ${history.reason}.`, {
    hint: 'Changes the server wrote before it started its binlog again cannot be read. Set ON_POSITION_LOST=resnapshot (or SNAPSHOT_MODE=when_needed) to re-snapshot the captured tables in a new binlog epoch, whose versions outrank every indexed document.',
    details: { stored: position.toJSON(), binlog: history.kind },
  });
}
