import type { ChangeEvent } from '../core/change-event.ts';
import type { SourcePosition } from '../core/position.ts';

/**
 * What the binlog reader hands to the dispatcher, in binlog order: the row changes of captured
 * tables one by one, framed by the boundaries of their binlog transaction. A transaction is never
 * assembled in memory, so its size does not matter; the boundaries tell the dispatcher where a
 * stored position can resume.
 */
export type StreamItem = ChangeEvent | TransactionBegin | TransactionCommit;

/** Comes before the first change of a binlog transaction that the reader emits. */
export interface TransactionBegin {
  kind: 'begin';
  /** Where the transaction starts (its GTID or BEGIN event), with the GTID set before it: resuming here reads it again. */
  start: SourcePosition;
  /** The transaction's GTID, when the server has one. */
  gtid: string | undefined;
  /** Change events at its start that the reader skipped because they were committed before a restart (the stored `event`). */
  skipped: number;
  /** The skipped events per `database.table`, for transaction metadata that continues their counts. */
  skippedByTable: ReadonlyMap<string, number>;
}

/** The end of a binlog transaction that had at least one captured change. */
export interface TransactionCommit {
  kind: 'commit';
  /** Resume point after it: the end of the commit event, with the executed GTID set. */
  end: SourcePosition;
  tsMs: number;
}

/** Where the reader puts its items; the queue accounts `bytes` (an estimate of what the item holds). */
export interface StreamOutput {
  push(item: StreamItem, bytes: number): void;
  /** The most bytes the reader may push before it can next be paused (the rows of one binlog event). */
  expectBurst(bytes: number): void;
}

export function isBoundary(item: StreamItem): item is TransactionBegin | TransactionCommit {
  return 'kind' in item;
}
