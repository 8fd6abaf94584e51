import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { lossyCounts } from './lossy-values.ts';

/**
 * Source metrics; names follow Prometheus conventions with a `cdc_source_` prefix.
 * `binlogSilence` answers, at scrape time, the seconds since the binlog reader last heard the server
 * (null while no reader runs).
 */
export function createSourceMetrics(binlogSilence: () => number | null) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  let chunkHighWaterBytes = 0;
  const snapshotChunkHighWaterBytes = new Gauge({
    name: 'cdc_source_snapshot_chunk_high_water_bytes',
    help: 'The most estimated bytes one snapshot chunk (initial or incremental) held since start (bounded by SNAPSHOT_CHUNK_BYTES plus one row)',
    registers: [registry],
  });
  const transactions = new Counter({ name: 'cdc_source_kafka_transactions_total', help: 'Kafka transactions committed', registers: [registry] });
  const lastTransaction = new Gauge({
    name: 'cdc_source_last_transaction_timestamp_seconds',
    help: 'When the source last committed a Kafka transaction of changes, in seconds since the epoch (0 before its first): what a freshness alert compares with time(); read in the same scrape as cdc_source_events_total, it dates the changes counted there',
    registers: [registry],
  });
  return {
    registry,
    /** Counts a snapshot chunk's estimated bytes, as read, into its high-water mark. */
    snapshotChunkRead(bytes: number): void {
      if (bytes <= chunkHighWaterBytes) return;
      chunkHighWaterBytes = bytes;
      snapshotChunkHighWaterBytes.set(bytes);
    },
    events: new Counter({ name: 'cdc_source_events_total', help: 'Row changes committed to Kafka', labelNames: ['table', 'op'], registers: [registry] }),
    bytes: new Counter({ name: 'cdc_source_bytes_total', help: 'Encoded bytes (key and value) of change records committed to Kafka', labelNames: ['topic'], registers: [registry] }),
    oversizeRecords: new Counter({
      name: 'cdc_source_oversize_records_total',
      help: 'Changes larger than TOPIC_MAX_MESSAGE_BYTES under OVERSIZE_RECORDS=dead-letter, by outcome: `without_before` (an update or delete written without its before image) or `dead_lettered` (only its dead letter written); counted when put into a Kafka transaction',
      labelNames: ['table', 'outcome'],
      registers: [registry],
    }),
    /** Counts a committed Kafka transaction of changes, and dates it. */
    transactionCommitted(): void {
      transactions.inc();
      lastTransaction.set(Date.now() / 1000);
    },
    commitSeconds: new Histogram({
      name: 'cdc_source_kafka_commit_seconds',
      help: 'Time to encode and commit one Kafka transaction',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    transactionEvents: new Histogram({
      name: 'cdc_source_kafka_transaction_records',
      help: 'Records per committed Kafka transaction (changes, tombstones, transaction markers)',
      buckets: [1, 10, 100, 1000, 5000, 20000, 50000],
      registers: [registry],
    }),
    paused: new Gauge({ name: 'cdc_source_paused', help: '1 while reading the binlog is paused (admin API)', registers: [registry] }),
    binlogSilenceSeconds: new Gauge({
      name: 'cdc_source_binlog_silence_seconds',
      help: 'Seconds since the binlog reader received an event, server heartbeats included (NaN while not streaming); /readyz fails above READY_STALL_SECONDS',
      registers: [registry],
      collect() {
        this.set(binlogSilence() ?? Number.NaN);
      },
    }),
    queueBytes: new Gauge({ name: 'cdc_source_queue_bytes', help: 'Bytes (binlog share plus in-memory estimate) of the changes waiting between reader and dispatcher', registers: [registry] }),
    queueHighWaterBytes: new Gauge({
      name: 'cdc_source_queue_high_water_bytes',
      help: 'The most bytes the queue between reader and dispatcher held since start (bounded by QUEUE_MAX_BYTES)',
      registers: [registry],
    }),
    lagSeconds: new Gauge({ name: 'cdc_source_lag_seconds', help: 'Now minus the commit time of the last change committed to Kafka', registers: [registry] }),
    headroomBytes: new Gauge({
      name: 'cdc_source_binlog_headroom_bytes',
      help: 'Binlog bytes on the server before the stored position: how much can be purged before the position is lost',
      registers: [registry],
    }),
    headroomSeconds: new Gauge({
      name: 'cdc_source_binlog_headroom_seconds',
      help: "Seconds between the start of the oldest binlog on the server and the stored position's commit time",
      registers: [registry],
    }),
    retentionSeconds: new Gauge({ name: 'cdc_source_binlog_retention_seconds', help: 'The server binlog retention setting (0: never purged automatically)', registers: [registry] }),
    heartbeats: new Counter({ name: 'cdc_source_heartbeats_total', help: 'Heartbeat records committed while the captured tables were idle', registers: [registry] }),
    snapshotRows: new Counter({ name: 'cdc_source_snapshot_rows_total', help: 'Snapshot rows committed to Kafka', labelNames: ['table'], registers: [registry] }),
    snapshotRowsEstimated: new Gauge({
      name: 'cdc_source_snapshot_rows_estimated',
      help: 'Estimated rows of a table being snapshotted (information_schema)',
      labelNames: ['table'],
      registers: [registry],
    }),
    snapshotEtaSeconds: new Gauge({ name: 'cdc_source_snapshot_eta_seconds', help: 'Estimated seconds until the snapshot of a table is done', labelNames: ['table'], registers: [registry] }),
    lossyValues: new Counter({
      name: 'cdc_source_lossy_values_total',
      help: 'Values the server stored that their type cannot hold, replaced alike by snapshot and binlog reader (kind: enum_error reads as the empty string, invalid_utf8 as U+FFFD), per row image',
      labelNames: ['table', 'column', 'kind'],
      registers: [registry],
      // Counted where rows are converted (lossy-values.ts), which knows no metrics registry.
      collect() {
        this.reset();
        for (const { table, column, kind, count } of lossyCounts()) this.inc({ table, column, kind }, count);
      },
    }),
    restarts: new Counter({ name: 'cdc_source_restarts_total', help: 'Pipeline restarts after a retriable error', labelNames: ['code'], registers: [registry] }),
  };
}

export type SourceMetrics = ReturnType<typeof createSourceMetrics>;
