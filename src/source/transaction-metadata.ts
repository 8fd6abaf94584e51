import { transactionsTopic } from '../core/topics.ts';
import type { ChangeEvent } from '../core/change-event.ts';
import type { EncodedRecord } from './encoded-record.ts';
import type { TransactionBegin } from './stream-items.ts';

interface OpenTransaction {
  id: string;
  tsMs: number | undefined;
  total: number;
  perTable: Map<string, number>;
  /** Whether its BEGIN record was written (in this run, or before a restart inside it). */
  begun: boolean;
}

/**
 * Transaction metadata in Debezium's shape: every event of a binlog transaction gets its id and
 * order (set on the event before it is encoded), and the transaction gets a BEGIN record before its
 * first event and an END record (with event counts per table) after its last, on
 * `<prefix>.transactions`, keyed by the id. The id is the transaction's GTID, or its start
 * `file:pos` on servers without GTIDs.
 *
 * The transaction arrives change by change and may be split across Kafka transactions: the records
 * travel with the events they frame, so BEGIN is in the Kafka transaction of the first event and
 * END in that of the last. After a restart inside a split transaction the counts continue from
 * the events committed before it, so the orders and the END counts are those of the whole.
 * Snapshot rows appended by an incremental snapshot window are not part of it.
 */
export class TransactionMetadata {
  readonly #topic: string;
  readonly #ownTable: (table: string) => boolean;
  #open: OpenTransaction | undefined;

  /** `ownTable`: whether a `database.table`'s changes are events of the transaction (not the signal table's). */
  constructor(prefix: string, ownTable: (table: string) => boolean) {
    this.#topic = transactionsTopic(prefix);
    this.#ownTable = ownTable;
  }

  begin(item: TransactionBegin): void {
    const perTable = new Map<string, number>();
    let total = 0;
    for (const [table, count] of item.skippedByTable) {
      if (!this.#ownTable(table)) continue;
      perTable.set(table, count);
      total += count;
    }
    this.#open = { id: item.gtid ?? `${item.start.file}:${item.start.pos}`, tsMs: undefined, total, perTable, begun: total > 0 };
  }

  /** Gives a streamed event of the open transaction its order; returns the BEGIN record when it is the first. */
  annotate(event: ChangeEvent): EncodedRecord | undefined {
    const tx = this.#open;
    if (!tx) return undefined;
    const table = `${event.schema.database}.${event.schema.table}`;
    const tableOrder = (tx.perTable.get(table) ?? 0) + 1;
    tx.perTable.set(table, tableOrder);
    tx.total += 1;
    event.transaction = { id: tx.id, totalOrder: tx.total, tableOrder };
    tx.tsMs ??= event.tsMs;
    if (tx.begun) return undefined;
    tx.begun = true;
    return this.#record(tx, { status: 'BEGIN', id: tx.id, ts_ms: tx.tsMs, event_count: null, data_collections: null });
  }

  /** Closes the open transaction; its END record when it had events. */
  end(): EncodedRecord | undefined {
    const tx = this.#open;
    this.#open = undefined;
    if (!tx?.begun) return undefined;
    return this.#record(tx, {
      status: 'END',
      id: tx.id,
      ts_ms: tx.tsMs ?? Date.now(),
      event_count: tx.total,
      data_collections: [...tx.perTable].map(([data_collection, event_count]) => ({ data_collection, event_count })),
    });
  }

  #record(tx: OpenTransaction, value: object): EncodedRecord {
    const key = Buffer.from(tx.id);
    const bytes = Buffer.from(JSON.stringify(value));
    return { topic: this.#topic, key, value: bytes, bytes: bytes.length + key.length };
  }
}
