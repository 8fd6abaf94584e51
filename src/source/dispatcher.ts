import { setImmediate } from 'node:timers/promises';
import type { ChangeEvent, Op, TableSchema } from '../core/change-event.ts';
import type { SourcePosition } from '../core/position.ts';
import type { Transform } from '../transforms/transform.ts';
import type { EncodedRecord } from './encoded-record.ts';
import type { EventEncoder } from './event-encoder.ts';
import type { IncrementalProgress, IncrementalSnapshot } from './incremental-snapshot.ts';
import type { TransactionalWriter } from './kafka-writer.ts';
import type { SourceMetrics } from './source-metrics.ts';
import { isBoundary, type StreamItem } from './stream-items.ts';
import type { StreamQueue } from './stream-queue.ts';
import type { TransactionMetadata } from './transaction-metadata.ts';

/** Items dispatched between two turns of the event loop (see step()). */
const DISPATCH_SLICE_ITEMS = 1000;

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
  /** Committed changes per table schema and op, snapshot rows per table schema: metrics are counted once per batch, keyed without building a string per change. */
  changes: Map<TableSchema, Partial<Record<Op, number>>>;
  snapshotRows: Map<TableSchema, number>;
  lastTs: number | undefined;
  /** The incremental snapshot's progress as of the batch's last item: what its offsets record stores. */
  incremental: IncrementalProgress | undefined;
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
  /** The Kafka transaction being committed while the next batch fills; its outcome lands in #finished or #failure. */
  #inFlight: Promise<void> | undefined;
  readonly #finished: Committed[] = [];
  #failure: unknown;

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

  /** Nothing taken, nothing in flight: an idle commit (heartbeat, position of other tables) may go. */
  get idle(): boolean {
    return this.#batch.items === 0 && this.#open === undefined && this.#queue.length === 0 && this.#inFlight === undefined;
  }

  /**
   * Takes what waits (after the linger, unless a full batch already waits), processes it, and
   * starts the Kafka transaction when it is due. One transaction is in flight while the next batch
   * is read, transformed and encoded: the CPU work overlaps the broker's round trips (kafkajs keeps
   * one produce request in flight per broker for a transactional producer, so the overlap has to
   * come from here). The items taken are dispatched a thousand at a time, with a turn of the event
   * loop in between: taken whole (20,000 changes, 40–60 ms), they kept the answers to the
   * transaction in flight waiting, so its first produce request took 55–95 ms instead of 20–40.
   * Returns the transactions that finished since the last call, in order.
   */
  async step(): Promise<Committed[]> {
    const { maxEvents, maxBytes, lingerMs } = this.#settings;
    if (this.#queue.length > 0 && lingerMs > 0) await this.#queue.linger(lingerMs, () => this.#queue.holds(maxEvents - this.#batch.items, maxBytes - this.#batch.bytes));
    const items = this.#queue.take(maxEvents - this.#batch.items, Math.max(1, maxBytes - this.#batch.bytes));
    this.#metrics.queueBytes.set(this.#queue.bytes);
    this.#metrics.queueHighWaterBytes.set(this.#queue.highWaterBytes);
    for (let i = 0; i < items.length; i++) {
      // Answers to the transaction in flight are read between slices of this work, not after all of it.
      if (i > 0 && i % DISPATCH_SLICE_ITEMS === 0) await setImmediate();
      const pending = this.#dispatch(items[i]!);
      if (pending) await pending;
    }
    const batch = this.#batch;
    const full = batch.items >= maxEvents || batch.bytes >= maxBytes;
    const drained = this.#queue.length === 0;
    if (batch.items > 0 && (full || (drained && (this.#open === undefined || this.#readerPaused())))) {
      // Inside a binlog transaction: its start, with the number of its changes this batch completes.
      const position = this.#open ? this.#open.start.withEvent(this.#open.changes) : this.#lastEnd!;
      batch.incremental = this.#incremental?.progress;
      this.#batch = emptyBatch();
      await this.#inFlight;
      if (this.#failure) throw this.#failure;
      this.#start(batch, position);
    } else if (this.#inFlight && drained && batch.items === 0) {
      await this.#inFlight;
    }
    if (this.#failure) throw this.#failure;
    return this.#finished.splice(0);
  }

  #start(batch: Batch, position: SourcePosition): void {
    const commit = this.#commit(batch, position).then(
      (committed) => {
        this.#finished.push(committed);
      },
      (error: unknown) => {
        this.#failure ??= error;
      },
    );
    this.#inFlight = commit;
    void commit.then(() => {
      if (this.#inFlight === commit) this.#inFlight = undefined;
      // The stream loop waits on the queue: step() reports the outcome.
      this.#queue.wake();
    });
  }

  /** Dispatches one item; a promise only when the item needs I/O (a table's first schema registration). */
  #dispatch(item: StreamItem): Promise<void> | undefined {
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
      return undefined;
    }
    if (this.#open) this.#open.changes++;
    if (!this.#incremental) return this.#change(item);
    this.#expanded.length = 0;
    this.#incremental.process(item, this.#expanded);
    return this.#expandedFrom(0);
  }

  /** The changes an incremental snapshot window made of one item, from `i` on, in order. */
  #expandedFrom(i: number): Promise<void> | undefined {
    for (; i < this.#expanded.length; i++) {
      const pending = this.#change(this.#expanded[i]!);
      if (pending) {
        const next = i + 1;
        return pending.then(() => this.#expandedFrom(next));
      }
    }
    return undefined;
  }

  #change(event: ChangeEvent): Promise<void> | undefined {
    const batch = this.#batch;
    const { schema } = event;
    if (event.snapshot === 'false') {
      this.#add(this.#metadata?.annotate(event));
      batch.lastTs = event.tsMs;
    } else batch.snapshotRows.set(schema, (batch.snapshotRows.get(schema) ?? 0) + 1);
    let ops = batch.changes.get(schema);
    if (!ops) {
      ops = {};
      batch.changes.set(schema, ops);
    }
    ops[event.op] = (ops[event.op] ?? 0) + 1;
    const shaped = this.#transform(event);
    if (!shaped) return undefined;
    if (this.#encoder.encodeIfPrepared(shaped, this.#settings.tombstones, this.#add)) return undefined;
    // The topic is checked (or created) while the batch fills, not when it commits: after a start,
    // the first Kafka transaction waited 150-200 ms for it. Claimed first, so that a table whose
    // topic is another's (NAME_COLLISION) creates nothing. The commit awaits the same check and
    // reports its failure; this early one only starts it.
    this.#writer.ensureTopics([this.#encoder.claimTopic(shaped)]).catch(() => undefined);
    return this.#encoder.prepare(shaped).then(() => this.#encoder.encodeChange(shaped, this.#settings.tombstones, this.#add));
  }

  readonly #add = (record: EncodedRecord | undefined): void => {
    if (!record) return;
    const batch = this.#batch;
    batch.records.push(record);
    batch.bytes += record.bytes;
    batch.topics.add(record.topic);
  };

  async #commit(batch: Batch, position: SourcePosition): Promise<Committed> {
    const started = process.hrtime.bigint();
    await this.#writer.ensureTopics(batch.topics);
    await this.#writer.commit(batch.records, position, { incremental: batch.incremental });
    const metrics = this.#metrics;
    metrics.transactionCommitted();
    metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    metrics.transactionEvents.observe(batch.records.length);
    const bytesByTopic = new Map<string, number>();
    // Indexed: run once per transaction, this stays unoptimised, where for-of allocates per record (kafka-writer.ts, slices()).
    for (let i = 0; i < batch.records.length; i++) {
      const record = batch.records[i]!;
      bytesByTopic.set(record.topic, (bytesByTopic.get(record.topic) ?? 0) + record.bytes);
    }
    for (const [topic, bytes] of bytesByTopic) metrics.bytes.inc({ topic }, bytes);
    for (const [schema, ops] of batch.changes) {
      const table = qualifiedName(schema);
      for (const [op, count] of Object.entries(ops)) {
        metrics.events.inc({ table, op }, count);
        this.#tableCounts.set(table, (this.#tableCounts.get(table) ?? 0) + count);
      }
    }
    for (const [schema, count] of batch.snapshotRows) metrics.snapshotRows.inc({ table: qualifiedName(schema) }, count);
    const tsMs = batch.lastTs ?? Date.now();
    metrics.lagSeconds.set(Math.max(0, (Date.now() - tsMs) / 1000));
    return { position, tsMs };
  }
}

function qualifiedName(schema: TableSchema): string {
  return `${schema.database}.${schema.table}`;
}

function emptyBatch(): Batch {
  return { records: [], bytes: 0, items: 0, topics: new Set(), changes: new Map(), snapshotRows: new Map(), lastTs: undefined, incremental: undefined };
}
