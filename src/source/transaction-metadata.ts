import type { SourceTransaction } from './binlog-reader.ts';
import type { EncodedRecord } from './event-encoder.ts';

/**
 * Transaction metadata in Debezium's shape: every event of a binlog transaction gets its id and
 * order (mutating the events, before they are encoded), and the transaction gets a BEGIN and an
 * END record (with event counts per table) on `<prefix>.transactions`, keyed by the id. They
 * travel in the same Kafka transaction as the events, so a consumer sees all or none of them.
 */
export function transactionMarkers(tx: SourceTransaction, prefix: string): { begin: EncodedRecord; end: EncodedRecord } {
  const id = tx.events[0]?.gtid ?? `${tx.end.file}:${tx.end.pos}`;
  const perTable = new Map<string, number>();
  tx.events.forEach((event, i) => {
    const table = `${event.schema.database}.${event.schema.table}`;
    const tableOrder = (perTable.get(table) ?? 0) + 1;
    perTable.set(table, tableOrder);
    event.transaction = { id, totalOrder: i + 1, tableOrder };
  });
  const topic = `${prefix}.transactions`;
  const key = Buffer.from(id);
  const tsMs = tx.events[0]?.tsMs ?? Date.now();
  const record = (value: object): EncodedRecord => {
    const bytes = Buffer.from(JSON.stringify(value));
    return { topic, key, value: bytes, bytes: bytes.length + key.length };
  };
  return {
    begin: record({ status: 'BEGIN', id, ts_ms: tsMs, event_count: null, data_collections: null }),
    end: record({
      status: 'END',
      id,
      ts_ms: tsMs,
      event_count: tx.events.length,
      data_collections: [...perTable].map(([data_collection, event_count]) => ({ data_collection, event_count })),
    }),
  };
}
