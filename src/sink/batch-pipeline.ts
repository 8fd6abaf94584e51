import type { Batch, KafkaMessage } from 'kafkajs';
import type { TableSchema } from '../core/change-event.ts';
import { CdcError, errorMessage, isServiceError } from '../core/errors.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { type BulkAction, type BulkStats, type BulkWriter, collapseById, documentLength } from './bulk-writer.ts';
import type { DeadLetter, DeadLetterQueue } from './dead-letter-queue.ts';
import { recordBytes } from '../core/kafkajs-patches.ts';
import { Limiter } from '../core/limiter.ts';
import type { IndexManager } from './index-manager.ts';
import { planActions, type RecordSettings, type SkipReason } from './record-actions.ts';
import type { RecordDecoder } from './record-decoder.ts';
import type { SinkMetrics } from './sink-metrics.ts';

/** What the consumer lends a partition's batch: its group membership and its commit. */
export interface PartitionHandle {
  heartbeat(): Promise<void>;
  /** False once the consumer stops or the group moved on: finish the chunk in flight, start no other. */
  active(): boolean;
  /** Aborted once the consumer stops: a wait for new indices ends early (they are still made, for whoever reads the partition next). */
  stopping: AbortSignal;
  /** Commits the batch's partition past `last` (its records up to it are durable), which covers `records` records. */
  commit(last: string, records: number): Promise<void>;
  /**
   * Told once every record of the batch is in a bulk request (only its last requests are still
   * in flight): the consumer may fetch and start the partition's next batch meanwhile.
   */
  handBack(): void;
}

export interface PipelineParts {
  decoder: RecordDecoder;
  settings: RecordSettings;
  indices: IndexManager;
  writer: BulkWriter;
  dlq: DeadLetterQueue;
  metrics: SinkMetrics;
  log: Logger;
  errorsTolerance: 'none' | 'all';
  maxActions: number;
  maxBytes: number;
  /** Chunks of one partition written at the same time (SINK_BULKS_IN_FLIGHT). */
  bulksInFlight: number;
  /** Partitions worked on at the same time (SINK_PARTITION_CONCURRENCY), not counting those waiting for a new index. */
  partitionConcurrency: number;
  signal: AbortSignal;
}

/** A decoded chunk of a batch: its actions, its dead letters, and the records it covers. */
interface Chunk {
  messages: KafkaMessage[];
  actions: BulkAction<KafkaMessage>[];
  letters: DeadLetter[];
  skipped: Record<SkipReason, number>;
}

/** The indices a chunk writes to, per index and decoded schema, with the records that need each. */
type Targets = Map<string, Map<TableSchema, { index: string; schema: TableSchema; messages: Set<KafkaMessage> }>>;

/** What writing a chunk did: the bulk outcome, and how many actions a newer one of the same document replaced. */
interface Written {
  stats: BulkStats<KafkaMessage>;
  collapsed: number;
}

/** Bytes an action adds to a bulk request besides its document (the action line). */
const ACTION_LINE_BYTES = 120;

/**
 * Makes a partition's batches durable in Elasticsearch, in chunks of at most BULK_MAX_ACTIONS
 * actions and BULK_MAX_BYTES document bytes: a chunk is decoded (schema ids resolved once for
 * the chunk, then every record synchronously), its bulk request sent, and the next chunk decoded
 * and sent while it is in flight, up to SINK_BULKS_IN_FLIGHT requests at once. Writing chunks of one partition at the
 * same time is safe because every action carries its change's external version: whichever
 * request lands first, Elasticsearch keeps the newest version of each document. A chunk's offsets
 * are committed only once it is durable and every chunk before it is committed, so the commits of
 * a partition stay contiguous. A partition thus has at most SINK_BULKS_IN_FLIGHT chunks' documents
 * in hand, over both batches it may have (a written chunk keeps only its records until committed).
 * At most SINK_PARTITION_CONCURRENCY partitions are worked on at once (places); one whose chunk
 * waits for new indices gives its place to another meanwhile. Once every record of a batch is in
 * a request, the partition gives its place back and the consumer is told (handBack), so the
 * partition's next batch is fetched and decoded while the last requests are in flight; the
 * in-flight bound counts the requests of both batches together.
 */
export class BatchPipeline {
  readonly #parts: PipelineParts;
  /** Places of the partitions worked on: a partition takes one for its batch, and gives it back while it waits for new indices. */
  readonly #places: Limiter;
  /** Each partition's bulk requests in flight (SINK_BULKS_IN_FLIGHT), shared by the batches it has in hand. */
  #requests = new Map<string, Limiter>();
  /**
   * Since when each batch's oldest chunk not yet durable waits (readiness reads the oldest), by
   * the batch's progress: one entry over its retries, kept until it is durable or forgotten.
   */
  readonly #waitingSince = new Map<object, number>();
  #lastProgressAt = 0;

  constructor(parts: PipelineParts) {
    this.#parts = parts;
    this.#places = new Limiter(parts.partitionConcurrency);
  }

  /** When the oldest chunk still being made durable started; undefined when none is. */
  get oldestChunkSince(): number | undefined {
    let oldest: number | undefined;
    for (const since of this.#waitingSince.values()) if (oldest === undefined || since < oldest) oldest = since;
    return oldest;
  }

  get lastProgressAt(): number {
    return this.#lastProgressAt;
  }

  /** Forgets a batch the consumer gave up (rewound, dropped or abandoned): it waits no longer. */
  forget(progress: object): void {
    this.#waitingSince.delete(progress);
  }

  /** Forgets chunks of a consumer that is gone. */
  reset(): void {
    this.#waitingSince.clear();
    this.#requests = new Map();
  }

  /**
   * Processes `batch` from `progress.next` (advanced as chunks are committed, so a retry resumes
   * after the last commit). Up to `bulksInFlight` chunks are written at once; each is committed
   * only after it is durable and the chunk before it is committed. Throws the first failure, after
   * every chunk in flight has settled.
   */
  async process(batch: Batch, progress: { next: number }, handle: PartitionHandle): Promise<void> {
    await this.#places.acquire();
    let placed = true;
    const leave = () => {
      if (placed) this.#places.release();
      placed = false;
    };
    try {
      await this.#processInPlace(batch, progress, {
        ...handle,
        handBack: () => {
          leave();
          handle.handBack();
        },
      });
    } finally {
      leave();
    }
  }

  async #processInPlace(batch: Batch, progress: { next: number }, handle: PartitionHandle): Promise<void> {
    const partitionKey = `${batch.topic}/${batch.partition}`;
    let requests = this.#requests.get(partitionKey);
    if (!requests) {
      requests = new Limiter(this.#parts.bulksInFlight);
      this.#requests.set(partitionKey, requests);
    }
    // The batch's entry among the waiting chunks is keyed by its progress (the partition's other batch in hand has its own).
    // Chunks being written or committed, oldest first; each leaves once it is committed.
    const inFlight: Array<{ since: number; done: Promise<void> }> = [];
    let decodingSince: number | undefined;
    let committed: Promise<void> = Promise.resolve();
    let from = progress.next;
    try {
      while (from < batch.messages.length && handle.active()) {
        // A chunk is decoded only when it can be sent at once: a batch holds at most SINK_BULKS_IN_FLIGHT
        // chunks, and its partition has at most that many requests in flight.
        while (inFlight.length >= this.#parts.bulksInFlight) await inFlight[0]!.done;
        await requests.acquire();
        const since = Date.now();
        decodingSince = since;
        if (!this.#waitingSince.has(progress)) this.#waitingSince.set(progress, since);
        const chunk = await this.#decode(batch, from, handle.stopping).catch((error: unknown) => {
          requests.release();
          throw error;
        });
        if (!handle.active()) {
          // Stopped while its indices were prepared: not written, so nothing of it is committed; whoever reads the partition next re-reads it.
          requests.release();
          decodingSince = undefined;
          if (inFlight.length === 0) this.#waitingSince.delete(progress);
          break;
        }
        from += chunk.messages.length;
        const written = this.#write(chunk, handle).finally(() => requests.release());
        written.catch(() => undefined);
        // A chunk commits after the one before it, never past a failed one: commits stay contiguous,
        // and the failure reported is the first in commit order.
        committed = committed
          .then(() => written)
          .then(async (result) => {
            await this.#commit(batch, chunk, result, handle);
            progress.next += chunk.messages.length;
            inFlight.shift();
            const oldest = inFlight[0]?.since ?? decodingSince;
            if (oldest === undefined) this.#waitingSince.delete(progress);
            else this.#waitingSince.set(progress, oldest);
          });
        // Awaited before returning or in the catch below; never left unobserved.
        committed.catch(() => undefined);
        inFlight.push({ since, done: committed });
        decodingSince = undefined;
      }
      if (from >= batch.messages.length) handle.handBack();
      await committed;
    } catch (error) {
      // The chunks in flight settle first; if one failed, its failure is the one reported.
      throw await committed.then(
        () => error,
        (failure: unknown) => failure,
      );
    }
  }

  /** Decodes records from `from` until the chunk reaches its action or byte limit. */
  async #decode(batch: Batch, from: number, stopping: AbortSignal): Promise<Chunk> {
    const { decoder, settings, indices, maxActions, maxBytes } = this.#parts;
    const candidates = batch.messages.slice(from, from + maxActions);
    await decoder.prepare(candidates);
    const chunk: Chunk = { messages: [], actions: [], letters: [], skipped: { tombstone: 0, keyless: 0, filtered: 0 } };
    const targets: Targets = new Map();
    let bytes = 0;
    // Indexed: run once per chunk, this stays unoptimised, where for-of allocates per record.
    for (let i = 0; i < candidates.length; i++) {
      const message = candidates[i]!;
      if (chunk.messages.length > 0 && (chunk.actions.length >= maxActions || bytes >= maxBytes)) break;
      chunk.messages.push(message);
      try {
        const planned = planActions(decoder.decode(message, batch.topic, settings.renderDocuments), settings, message);
        if (typeof planned === 'string') {
          chunk.skipped[planned]++;
          continue;
        }
        if ('actions' in planned) for (const action of planned.actions) bytes += addAction(chunk, action);
        else bytes += addAction(chunk, planned);
        // Only indices still to prepare are tracked: nearly always every one is ready.
        if (indices.isReady(planned.index, planned.schema)) continue;
        // Keyed by index, then schema object (not a joined string: a fingerprint is long, and this runs per record).
        let ofIndex = targets.get(planned.index);
        if (!ofIndex) {
          ofIndex = new Map();
          targets.set(planned.index, ofIndex);
        }
        let entry = ofIndex.get(planned.schema);
        if (!entry) {
          entry = { index: planned.index, schema: planned.schema, messages: new Set() };
          ofIndex.set(planned.schema, entry);
        }
        entry.messages.add(message);
      } catch (error) {
        chunk.letters.push(this.#letterOrThrow(batch, message, error));
      }
    }
    await this.#ensureIndices(batch, chunk, targets, stopping);
    return chunk;
  }

  /**
   * Prepares each index the chunk writes to once, all at the same time; records whose mapping
   * Elasticsearch refuses become dead letters. While new indices are prepared the partition gives
   * its place to another one (it keeps only this decoded chunk), so a burst of new tables gets its
   * indices SINK_INDEX_CONCURRENCY at a time instead of one per place.
   */
  async #ensureIndices(batch: Batch, chunk: Chunk, targets: Targets, stopping: AbortSignal): Promise<void> {
    const { indices } = this.#parts;
    const pending = [...targets.values()].flatMap((ofIndex) => [...ofIndex.values()]).filter(({ index, schema }) => !indices.isReady(index, schema));
    if (pending.length === 0) return;
    this.#places.release();
    const settled = Promise.allSettled(pending.map(({ index, schema }) => indices.ensure(index, schema)));
    const outcomes = await untilAborted(settled, stopping);
    await this.#places.acquire();
    if (!outcomes) return;
    let refused: Set<KafkaMessage> | undefined;
    outcomes.forEach((outcome, i) => {
      if (outcome.status === 'fulfilled') return;
      const { messages } = pending[i]!;
      for (const message of messages) chunk.letters.push(this.#letterOrThrow(batch, message, outcome.reason));
      refused ??= new Set();
      for (const message of messages) refused.add(message);
    });
    if (refused) chunk.actions = chunk.actions.filter((action) => !refused!.has(action.origin));
  }

  /** A record's failure as its dead letter; failures of a service the record does not cause (retriable, credentials) throw. */
  #letterOrThrow(batch: Batch, message: KafkaMessage, error: unknown): DeadLetter {
    const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
    if (cdc.retriable || isServiceError(cdc)) throw cdc;
    return letterOf(batch, message, cdc);
  }

  /** Writes the chunk's bulk request(s): returns once every action is durable or rejected. */
  async #write(chunk: Chunk, handle: PartitionHandle): Promise<Written> {
    const started = process.hrtime.bigint();
    const collapsed = collapseById(chunk.actions);
    const stats = await this.#parts.writer.write(collapsed, { heartbeat: () => handle.heartbeat(), signal: this.#parts.signal });
    // Its documents are not needed to commit it (rejections carry their own actions): they go now,
    // so what waits for an earlier chunk's commit holds only its records.
    const replaced = chunk.actions.length - collapsed.length;
    chunk.actions = [];
    this.#parts.metrics.bulkSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    return { stats, collapsed: replaced };
  }

  /** Dead-letters what Elasticsearch rejected, then commits the chunk; metrics once per chunk. */
  async #commit(batch: Batch, chunk: Chunk, { stats, collapsed }: Written, handle: PartitionHandle): Promise<void> {
    const { metrics } = this.#parts;
    const { topic, partition } = batch;
    for (const rejection of stats.rejected) chunk.letters.push(letterOf(batch, rejection.action.origin, rejection.error));
    await this.#deadLetter(chunk.letters);
    const last = chunk.messages.at(-1)!;
    // The batch's last chunk also covers what kafkajs filtered out after its last record
    // (transaction markers, aborted records), so a caught-up group ends at the log end.
    const through = last === batch.messages.at(-1) ? batch.lastOffset() : last.offset;
    const next = (BigInt(through) + 1n).toString();
    await handle.commit(through, chunk.messages.length);
    this.#lastProgressAt = Date.now();
    metrics.outcomes.inc({ outcome: 'collapsed' }, collapsed);
    metrics.outcomes.inc({ outcome: 'ok' }, stats.ok);
    metrics.outcomes.inc({ outcome: 'stale' }, stats.stale);
    metrics.outcomes.inc({ outcome: 'retried' }, stats.retried);
    for (const [reason, count] of Object.entries(chunk.skipped)) if (count > 0) metrics.skipped.inc({ reason }, count);
    metrics.batchSize.observe(chunk.messages.length);
    metrics.records.inc({ topic }, chunk.messages.length);
    let bytes = 0;
    // Indexed: run once per chunk, this stays unoptimised, where for-of allocates per record.
    for (let i = 0; i < chunk.messages.length; i++) bytes += recordBytes(chunk.messages[i]!);
    metrics.bytes.inc({ topic }, bytes);
    metrics.lagSeconds.set({ topic }, Math.max(0, (Date.now() - Number(last.timestamp)) / 1000));
    metrics.lagRecords.set({ topic, partition: String(partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
    await handle.heartbeat();
  }

  /**
   * With ERRORS_TOLERANCE=all the records go to the dead-letter topic (durably, before their
   * offsets are committed); with `none` the first one stops the sink with its coordinates.
   */
  async #deadLetter(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    const { dlq, metrics, log } = this.#parts;
    if (this.#parts.errorsTolerance === 'none') {
      const [first] = letters;
      throw new CdcError(first!.error.code, `${first!.error.message} (record ${first!.topic}/${first!.partition}@${first!.offset}; ERRORS_TOLERANCE=none)`, {
        cause: first!.error,
        hint: first!.error.hint ?? 'Fix the record or set ERRORS_TOLERANCE=all to route such records to the dead-letter topic.',
      });
    }
    await dlq.send(letters);
    for (const letter of letters) {
      metrics.deadLetters.inc({ code: letter.error.code });
      log.warn({ ...errorFields(letter.error), topic: letter.topic, partition: letter.partition, offset: letter.offset, dlq: dlq.topic }, 'record sent to the dead-letter topic');
    }
  }
}

/** Adds an action to the chunk; answers the bytes it adds to a request. */
function addAction(chunk: Chunk, action: BulkAction<KafkaMessage>): number {
  chunk.actions.push(action);
  return documentLength(action) + ACTION_LINE_BYTES;
}

function letterOf(batch: Batch, message: KafkaMessage, error: CdcError): DeadLetter {
  return { topic: batch.topic, partition: batch.partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers, error };
}

/** `work`'s result, or undefined as soon as `signal` is aborted (`work` goes on; it must never reject). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
    void work.then((result) => {
      signal.removeEventListener('abort', onAbort);
      resolve(result);
    });
  });
}
