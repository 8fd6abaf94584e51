import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Sink metrics; names follow Prometheus conventions with a `cdc_sink_` prefix. */
export function createSinkMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    records: new Counter({ name: 'cdc_sink_records_total', help: 'Kafka records processed', labelNames: ['topic'], registers: [registry] }),
    bytes: new Counter({ name: 'cdc_sink_bytes_total', help: 'Bytes (key and value) of the Kafka records processed', labelNames: ['topic'], registers: [registry] }),
    lagSeconds: new Gauge({ name: 'cdc_sink_lag_seconds', help: 'Now minus the Kafka timestamp of the last record made durable, per topic', labelNames: ['topic'], registers: [registry] }),
    batchRetries: new Counter({
      name: 'cdc_sink_batch_retries_total',
      help: 'Batches retried after a retriable failure (registry or Elasticsearch down), by error code',
      labelNames: ['code'],
      registers: [registry],
    }),
    restarts: new Counter({ name: 'cdc_sink_restarts_total', help: 'Consumer restarts after a retriable error', labelNames: ['code'], registers: [registry] }),
    paused: new Gauge({ name: 'cdc_sink_paused', help: '1 while consumption is paused (admin API)', registers: [registry] }),
    elasticsearchUp: new Gauge({ name: 'cdc_sink_elasticsearch_up', help: '1 when the last Elasticsearch health probe succeeded', registers: [registry] }),
    outcomes: new Counter({
      name: 'cdc_sink_bulk_items_total',
      help: 'Bulk items by outcome: ok, stale (409, already newer), retried, collapsed (superseded by a newer change in the same batch)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    bulkSeconds: new Histogram({
      name: 'cdc_sink_bulk_seconds',
      help: 'Time to make one batch durable in Elasticsearch, retries included',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    batchSize: new Histogram({ name: 'cdc_sink_batch_records', help: 'Records per processed batch', buckets: [1, 10, 100, 500, 1000, 5000, 10000], registers: [registry] }),
    lagRecords: new Gauge({ name: 'cdc_sink_lag_records', help: 'Records behind the end of each partition', labelNames: ['topic', 'partition'], registers: [registry] }),
    deadLetters: new Counter({ name: 'cdc_sink_dead_letters_total', help: 'Records sent to the dead-letter topic, by error code', labelNames: ['code'], registers: [registry] }),
    skipped: new Counter({ name: 'cdc_sink_skipped_total', help: 'Records not indexed, by reason (tombstone, keyless, filtered)', labelNames: ['reason'], registers: [registry] }),
  };
}

export type SinkMetrics = ReturnType<typeof createSinkMetrics>;
