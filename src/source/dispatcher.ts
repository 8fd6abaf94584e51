import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeEvent } from '../core/change-event.ts';
import type { SourcePosition } from '../core/position.ts';
import type { Transform } from '../transforms/transform.ts';
import type { EncodedRecord, EventEncoder } from './event-encoder.ts';
import type { IncrementalSnapshot } from './incremental-snapshot.ts';
import type { TransactionalWriter } from './kafka-writer.ts';
import type { SourceMetrics } from './source-metrics.ts';
import { isBoundary, type StreamItem } from './stream-items.ts';
import type { StreamQueue } from './stream-queue.ts';
import type { TransactionMetadata } from './transaction-metadata.ts';

export interface DispatcherSettings {
  /** TXN_MAX_EVENTS: items taken from the queue per Kafka transaction. */
  maxEvents: number;
  /** TXN_MAX_BYTES: encoded bytes per Kafka transaction. */
  maxBytes: number;
  lingerMs: number;
  tombstones: boolean;
}

/** What one Kafka transaction committed. */
export interface Committed {
  position: SourcePosition;
  /** Commit time of its last change. */
  tsMs: number;
}

/** The Kafka transaction being filled. */
interface Batch {
  records: EncodedRecord[];
  bytes: number;
  items: number;
  topics: Set<string>;
  /** Committed changes per `table \0 op`, snapshot rows per table: metrics are counted once per batch. */
  changes: Map<string, number>;
  snapshotRows: Map<string, number>;
  lastTs: number | undefined;
}

/**
 * The dispatcher: queue → incremental snapshot window → transaction metadata → transforms →
 * encoder → one Kafka transaction with the position it reaches. A Kafka transaction closes when it
 * holds TXN_MAX_EVENTS items or TXN_MAX_BYTES, also inside a binlog transaction: its stored
 * position is then that transaction's start plus the number of its changes committed (the reader
 * skips them after a restart). Otherwise it closes at a binlog commit once nothing more waits, or
 * when the reader is paused and nothing more can come; a binlog transaction whose rest is still
 * being read is not cut in two for nothing.
 */
export class Dispatcher {
  readonly #queue: StreamQueue;
  readonly #readerPaused: () => boolean;
  readonly #encoder: EventEncoder;
  readonly #writer: TransactionalWriter;
  readonly #transform: Transform;
  readonly #incremental: IncrementalSnapshot | undefined;
  readonly #metadata: TransactionMetadata | undefined;
  readonly #metrics: SourceMetrics;
  readonly #settings: DispatcherSettings;
  /** Changes committed per table, for /status (the service's, kept across restarts). */
  readonly #tableCounts: Map<string, number>;
  #batch: Batch = emptyBatch();
  /** The binlog transaction being dispatched: its start and how many of its changes were taken (skipped ones included). */
  #open: { start: SourcePosition; changes: number } | undefined;
  /** The end of the last binlog transaction taken. */
  #lastEnd: SourcePosition | undefined;
  readonly #expanded: ChangeEvent[] = [];

  constructor(
    parts: {
      queue: StreamQueue;
      readerPaused: () => boolean;
      encoder: EventEncoder;
      writer: TransactionalWriter;
      transform: Transform;
      incremental: IncrementalSnapshot | undefined;
      metadata: TransactionMetadata | undefined;
      metrics: SourceMetrics;
      tableCounts: Map<string, number>;
    },
    settings: DispatcherSettings,
  ) {
    this.#queue = parts.queue;
    this.#readerPaused = parts.readerPaused;
    this.#encoder = parts.encoder;
    this.#writer = parts.writer;
    this.#transform = parts.transform;
    this.#incremental = parts.incremental;
    this.#metadata = parts.metadata;
    this.#metrics = parts.metrics;
    this.#tableCounts = parts.tableCounts;
    this.#settings = settings;
  }

  /** Nothing taken and not committed: an idle commit (heartbeat, position of other tables) may go. */
  get idle(): boolean {
    return this.#batch.items === 0 && this.#open === undefined && this.#queue.length === 0;
  }

  /**
   * Takes what waits (after the linger, unless a full batch already waits), processes it, and
   * commits when the Kafka transaction is due. Returns what it committed, if it did.
   */
  async step(): Promise<Committed | undefined> {
    const { maxEvents, maxBytes, lingerMs } = this.#settings;
    if (this.#queue.length > 0 && lingerMs > 0 && !this.#queue.holds(maxEvents - this.#batch.items, maxBytes - this.#batch.bytes)) await sleep(lingerMs);
    const items = this.#queue.take(maxEvents - this.#batch.items, Math.max(1, maxBytes - this.#batch.bytes));
    this.#metrics.queueBytes.set(this.#queue.bytes);
    this.#metrics.queueHighWaterBytes.set(this.#queue.highWaterBytes);
    for (const item of items) await this.#dispatch(item);
    const batch = this.#batch;
    if (batch.items === 0) return undefined;
    const full = batch.items >= maxEvents || batch.bytes >= maxBytes;
    const drained = this.#queue.length === 0;
    if (!full && !(drained && (this.#open === undefined || this.#readerPaused()))) return undefined;
    return this.#commit();
  }

  async #dispatch(item: StreamItem): Promise<void> {
    const batch = this.#batch;
    batch.items++;
    if (isBoundary(item)) {
      if (item.kind === 'begin') {
        this.#open = { start: item.start, changes: item.skipped };
        this.#metadata?.begin(item);
      } else {
        this.#open = undefined;
        this.#lastEnd = item.end;
        this.#add(this.#metadata?.end());
        batch.lastTs = item.tsMs;
      }
      return;
    }
    if (this.#open) this.#open.changes++;
    if (!this.#incremental) return this.#change(item);
    this.#incremental.process(item, this.#expanded);
    for (const event of this.#expanded) await this.#change(event);
    this.#expanded.length = 0;
  }

  async #change(event: ChangeEvent): Promise<void> {
    const batch = this.#batch;
    const table = `${event.schema.database}.${event.schema.table}`;
    if (event.snapshot === 'false') {
      this.#add(this.#metadata?.annotate(event));
      batch.lastTs = event.tsMs;
    } else batch.snapshotRows.set(table, (batch.snapshotRows.get(table) ?? 0) + 1);
    const key = `${table}\u0000${event.op}`;
    batch.changes.set(key, (batch.changes.get(key) ?? 0) + 1);
    const shaped = this.#transform(event);
    if (!shaped) return;
    for (const record of await this.#encoder.encodeChange(shaped, this.#settings.tombstones)) this.#add(record);
  }

  #add(record: EncodedRecord | undefined): void {
    if (!record) return;
    const batch = this.#batch;
    batch.records.push(record);
    batch.bytes += record.bytes;
    batch.topics.add(record.topic);
  }

  async #commit(): Promise<Committed> {
    const started = process.hrtime.bigint();
    const batch = this.#batch;
    this.#batch = emptyBatch();
    // Inside a binlog transaction: its start, with the number of its changes this batch completes.
    const position = this.#open ? this.#open.start.withEvent(this.#open.changes) : this.#lastEnd!;
    await this.#writer.ensureTopics(batch.topics);
    await this.#writer.commit(batch.records, position, { incremental: this.#incremental?.progress });
    const metrics = this.#metrics;
    metrics.transactions.inc();
    metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.transactionEvents.observe(batch.records.length);
    const bytesByTopic = new Map<string, number>();
    for (const record of batch.records) bytesByTopic.set(record.topic, (bytesByTopic.get(record.topic) ?? 0) + record.bytes);
    for (const [topic, bytes] of bytesByTopic) metrics.bytes.inc({ topic }, bytes);
    for (const [key, count] of batch.changes) {
      const [table, op] = key.split('\u0000') as [string, string];
      metrics.events.inc({ table, op }, count);
      this.#tableCounts.set(table, (this.#tableCounts.get(table) ?? 0) + count);
    }
    for (const [table, count] of batch.snapshotRows) metrics.snapshotRows.inc({ table }, count);
    const tsMs = batch.lastTs ?? Date.now();
    metrics.lagSeconds.set(Math.max(0, (Date.now() - tsMs) / 1000));
    return { position, tsMs };
  }
}

function emptyBatch(): Batch {
  return { records: [], bytes: 0, items: 0, topics: new Set(), changes: new Map(), snapshotRows: new Map(), lastTs: undefined };
}
