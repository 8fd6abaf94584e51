import { CdcError } from '../core/errors.ts';
import type { SourcePosition } from '../core/position.ts';
import type { SourceConfig } from '../config/source.ts';
import type { IncrementalProgress } from './incremental-snapshot.ts';
import type { SnapshotProgress } from './snapshot.ts';

/** What start-up knows before it decides: the stored offset, what the server says of it, the configuration. */
export interface StartFacts {
  stored: { position: SourcePosition; snapshot?: SnapshotProgress | undefined; incremental?: IncrementalProgress | undefined } | undefined;
  /** SOURCE_POSITION_PURGED (or another retention failure) when the stored position was checked against the server. */
  retentionError: CdcError | undefined;
  connector: 'mariadb' | 'mysql';
  serverVersion: string;
  config: Pick<SourceConfig, 'SNAPSHOT_MODE' | 'SNAPSHOT_METHOD' | 'ON_POSITION_LOST' | 'SIGNAL_TABLE' | 'START_POSITION'>;
}

/** What the source does at start, in order: an optional read-view snapshot, then streaming (or stopping). */
export type StartPlan =
  | { action: 'fail'; error: CdcError }
  | {
      action: 'run';
      /** Set when the stored position was purged and is given up: why, for the log. */
      positionLost: string | undefined;
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
  const { config, retentionError } = facts;
  let stored = facts.stored;
  let positionLost: string | undefined;
  let incrementalAll: string | undefined;
  if (stored && retentionError) {
    const purged = retentionError.code === 'SOURCE_POSITION_PURGED';
    // An unfinished snapshot, when_needed or ON_POSITION_LOST=resnapshot snapshot again instead of failing.
    if (purged && !stored.snapshot && config.ON_POSITION_LOST === 'resnapshot') incrementalAll = 'ON_POSITION_LOST=resnapshot';
    if (!purged || !(stored.snapshot || incrementalAll || config.SNAPSHOT_MODE === 'when_needed')) return { action: 'fail', error: retentionError };
    positionLost = incrementalAll
      ? 'the stored position was purged from the server: streaming from the end of the binlog and re-snapshotting every captured table incrementally'
      : 'the stored position was purged from the server: taking a new snapshot of every captured table';
    stored = undefined;
  }
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
    snapshot: readView ? { resume: stored?.snapshot } : undefined,
    stopAfterSnapshot: config.SNAPSHOT_MODE === 'initial_only',
    incrementalAll,
    resumeIncremental: stored?.incremental,
    streamFrom: readView ? 'snapshot' : stored ? 'stored' : config.START_POSITION === 'latest' || incrementalAll ? 'binlog-end' : 'oldest',
  };
}
