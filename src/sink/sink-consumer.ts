import { setTimeout as sleep } from 'node:timers/promises';
import type { Batch, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { CdcError, errorMessage } from '../core/errors.ts';
import { kafkaCall, kafkaError, listTopics, lostGeneration } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { backoffDelay, DEFAULT_RETRY, RetryLog } from '../core/retry.ts';
import type { BatchPipeline } from './batch-pipeline.ts';
import type { SinkMetrics } from './sink-metrics.ts';
import { TopicPickup } from './topic-pickup.ts';

export interface ConsumerSettings {
  groupId: string;
  sessionTimeoutMs: number;
  topicPatterns: RegExp[];
  /** Partitions whose batches are handed to the pipeline at the same time (each keeps its own order; the pipeline bounds how many it works on). */
  partitionConcurrency: number;
  /** Most bytes one fetch from a broker returns; a partition's share is at most half of it. */
  fetchMaxBytes: number;
  /** How long a batch's retries log at warn before they log at error (READY_STALL_SECONDS). */
  retryWarnMs: number;
  /** How long new topics may wait for a busy consumer to be replaced (TOPIC_PICKUP_MAX_DELAY_MS). */
  pickupMaxDelayMs: number;
}

/** A batch taken from kafkajs and not yet settled. */
interface Taken {
  /** Whether every record of it was made durable and committed. */
  durable: Promise<boolean>;
  /** Its partition's rewind count when it was taken. */
  rewinds: number;
}

/** What a batch knows of the one taken before it on its partition. */
interface Predecessor {
  durable: Promise<boolean>;
  /** The partition was rewound since the predecessor was taken: this batch is what the rewind fetched. */
  rewound: boolean;
}

/**
 * The sink's consumer group membership: which topics it subscribes to (refreshed as matching
 * topics appear), running partitions' batches through the pipeline several at a time, pausing
 * and resuming, and committing. Retriable failures of a batch (registry or Elasticsearch down,
 * Kafka commit errors) are retried here with backoff while heartbeating, so the partition is held,
 * not consumed further and not lost, until its batch is durable.
 */
export class SinkConsumer {
  readonly #kafka: Kafka;
  readonly #pipeline: BatchPipeline;
  readonly #settings: ConsumerSettings;
  readonly #metrics: SinkMetrics;
  readonly #log: Logger;
  readonly #stop: AbortSignal;
  /** Told every failure of a batch, retried or not (readiness and status show the last one). */
  readonly #onError: (error: CdcError) => void;
  #consumer: Consumer | undefined;
  /** Aborted when the current consumer is closed, so its partitions stop waiting for what they need not finish. */
  #stopping = new AbortController();
  #subscribed = new Set<string>();
  readonly #pickup: TopicPickup;
  /** Batches the current consumer has handed to the pipeline and not finished. */
  #batchesInHand = 0;
  #joined = false;
  /** Why consumption is paused (admin API); undefined while consuming. */
  #pausedBy: string | undefined;
  /** A non-retriable failure of a batch or a crash of the consumer: the service stops with it. */
  fatal: CdcError | undefined;
  /** Committed next offset per `topic/partition`, and records made durable per topic (status page). */
  readonly positions = new Map<string, string>();
  readonly counts = new Map<string, number>();
  /** Why each held partition's batch is being retried (`topic/partition` → error); cleared once it is durable. */
  readonly held = new Map<string, CdcError>();
  /** Each partition's last commit, which the next one waits for. */
  readonly #commits = new Map<string, Promise<void>>();
  /**
   * Each partition's last batch taken in this generation of the group, until it is durable or
   * given up: whether it was made durable, and the partition's rewind count when it was taken.
   */
  readonly #unfinished = new Map<string, Taken>();
  /** Per partition: how often it was rewound, and the backoff and log level of its next rewind. */
  readonly #rewinds = new Map<string, { count: number; attempt: number; log: RetryLog }>();

  constructor(kafka: Kafka, pipeline: BatchPipeline, settings: ConsumerSettings, metrics: SinkMetrics, log: Logger, stop: AbortSignal, onError: (error: CdcError) => void) {
    this.#kafka = kafka;
    this.#pipeline = pipeline;
    this.#settings = settings;
    this.#metrics = metrics;
    this.#log = log;
    this.#stop = stop;
    this.#onError = onError;
    this.#pickup = new TopicPickup(settings.pickupMaxDelayMs);
  }

  get subscribed(): ReadonlySet<string> {
    return this.#subscribed;
  }

  get joined(): boolean {
    return this.#joined;
  }

  get pausedBy(): string | undefined {
    return this.#pausedBy;
  }

  /** (Re)starts the consumer when it is gone, or when the matching topics changed and TopicPickup says so. */
  async refresh(): Promise<void> {
    const topics = await this.#matchingTopics();
    if (this.#consumer) {
      const waiting = this.#pickup.waiting;
      const decision = this.#pickup.decide(this.#subscribed, topics, this.#batchesInHand > 0);
      if (decision === 'keep') return;
      if (decision === 'wait') {
        if (!waiting) {
          const added = [...topics].filter((topic) => !this.#subscribed.has(topic));
          this.#log.info({ topics: added, maxDelayMs: this.#settings.pickupMaxDelayMs }, 'new topics found; taken up once the consumer has no batch in hand');
        }
        return;
      }
    }
    await this.close();
    if (topics.size > 0) await this.#start(topics);
    else this.#log.info({ patterns: this.#settings.topicPatterns.map(String) }, 'no matching topics yet; waiting');
  }

  async close(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#stopping.abort();
    this.#subscribed = new Set();
    this.#joined = false;
    this.held.clear();
    await consumer?.disconnect().catch(() => undefined);
    // Batches handed back before they were durable finish now (their consumer stopped, so they
    // commit nothing more and write only what was already in flight).
    await Promise.all([...this.#unfinished.values()].map(({ durable }) => durable));
    this.#pipeline.reset();
  }

  /**
   * Stops fetching (the batches in hand are finished and committed) without leaving the consumer
   * group, so no rebalance moves the partitions elsewhere. Returns false when already paused.
   */
  pause(reason: string): boolean {
    if (this.#pausedBy) return false;
    this.#pausedBy = reason;
    this.#consumer?.pause([...this.#subscribed].map((topic) => ({ topic })));
    return true;
  }

  resume(): boolean {
    if (!this.#pausedBy) return false;
    this.#pausedBy = undefined;
    this.#consumer?.resume([...this.#subscribed].map((topic) => ({ topic })));
    return true;
  }

  async #matchingTopics(): Promise<Set<string>> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const all = await listTopics(admin);
      return new Set(all.filter((t) => this.#settings.topicPatterns.some((re) => re.test(t))));
    } catch (error) {
      throw kafkaError(error, 'listing topics');
    } finally {
      await admin.disconnect();
    }
  }

  async #start(topics: Set<string>): Promise<void> {
    const { groupId, sessionTimeoutMs, fetchMaxBytes, partitionConcurrency } = this.#settings;
    const consumer = this.#kafka.consumer({
      groupId,
      readUncommitted: false,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: Math.min(3_000, Math.floor(sessionTimeoutMs / 3)),
      // Bounded fetches: what the consumer holds is at most two fetch responses per broker (a
      // partition's next batch is fetched while the last requests of the one before are in flight).
      maxBytes: fetchMaxBytes,
      maxBytesPerPartition: Math.max(1024 * 1024, Math.floor(fetchMaxBytes / 2)),
      maxWaitTimeInMs: 250,
      // kafkajs restarts a consumer that crashed on a retriable error (Kafka away) on a timer it
      // arms after its own disconnect. A consumer replaced meanwhile (close() raced that crash)
      // would come back as a ghost member with its old topic list, and as the group's leader
      // assign only those topics: a topic created around a Kafka restart was never consumed.
      retry: { retries: 5, restartOnFailure: async () => this.#consumer === consumer },
    });
    this.#consumer = consumer;
    this.#stopping = new AbortController();
    const stopping = AbortSignal.any([this.#stopping.signal, this.#stop]);
    this.#joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      // A replaced consumer that joined anyway (its start was under way when close() ran) leaves again.
      if (this.#consumer !== consumer) return void consumer.disconnect().catch(() => undefined);
      this.#joined = true;
      // A new generation fetches from the committed offsets: batches taken before it gate nothing
      // (those still in flight only commit what they made durable, which stays true).
      this.#unfinished.clear();
    });
    // A fetched batch that held only transaction markers (or aborted records) never reaches
    // eachBatch, and with autoCommit off kafkajs only moves its fetch position past it.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event: { payload: { topic: string; partition: number; batchSize: number; lastOffset: string | null } }) => {
      const { topic, partition, batchSize, lastOffset } = event.payload;
      if (batchSize > 0 || lastOffset === null) return;
      // Only once the batch before them is durable (it may have been handed back with requests in flight).
      const before = this.#unfinished.get(`${topic}/${partition}`)?.durable ?? Promise.resolve(true);
      void before.then(async (durable) => {
        if (!durable) return;
        await this.#commit(consumer, topic, partition, lastOffset).catch((error: unknown) => {
          this.#log.warn({ ...errorFields(error as CdcError), topic, partition }, 'committing past transaction markers failed; the next batch commits past them');
        });
      });
    });
    consumer.on(consumer.events.CRASH, (event: { payload: { error: Error; restart: boolean } }) => {
      if (!event.payload.restart && this.#consumer === consumer) this.fatal ??= kafkaError(event.payload.error, 'consumer');
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    this.#subscribed = topics;
    this.#log.info({ topics: [...topics], group: groupId, paused: this.#pausedBy ?? false, partitionConcurrency }, 'consuming');
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: partitionConcurrency,
      eachBatch: (payload) => this.#takeBatch(consumer, stopping, payload),
    });
    if (this.#pausedBy) consumer.pause([...topics].map((topic) => ({ topic })));
  }

  /**
   * Takes one fetched batch and returns to kafkajs once every record of it is in a bulk request,
   * so the partition's next batch is fetched and decoded while the last requests are in flight
   * (kafkajs fetches again only when every batch of its previous fetch was returned). A partition
   * thus has at most two batches in hand: the next one returns only after this one is settled,
   * and commits nothing before this one is durable.
   */
  async #takeBatch(consumer: Consumer, stopping: AbortSignal, payload: EachBatchPayload): Promise<void> {
    const key = `${payload.batch.topic}/${payload.batch.partition}`;
    const previous = this.#unfinished.get(key);
    const rewinds = this.#rewinds.get(key)?.count ?? 0;
    let handBack!: () => void;
    const handedBack = new Promise<void>((resolve) => {
      handBack = resolve;
    });
    this.#batchesInHand++;
    const processed = this.#processBatch(consumer, stopping, payload, previous && { durable: previous.durable, rewound: previous.rewinds !== rewinds }, handBack);
    const taken: Taken = {
      rewinds,
      durable: processed.then(
        (ok) => ok,
        () => false,
      ),
    };
    this.#unfinished.set(key, taken);
    void taken.durable.then(() => {
      this.#batchesInHand--;
      if (this.#unfinished.get(key) === taken) this.#unfinished.delete(key);
    });
    // A failure before the batch was handed back reaches kafkajs as before (it rejoins or restarts).
    await Promise.race([handedBack, processed]);
    if (previous) await previous.durable;
  }

  /**
   * Runs one fetched batch through the pipeline, retrying retriable failures with backoff while
   * heartbeating, so the partition is held until the batch is durable. A failure once the consumer
   * that delivered the batch stops (closed, or stopped by kafkajs to restart it) is never fatal:
   * whoever owns the partition next re-delivers the batch from the last commit. Once the batch was
   * handed back, a retriable failure rewinds the partition to its first record not committed
   * instead (after a backoff): kafkajs then fetches it again, and drops the batch fetched after it.
   * Resolves whether every record of the batch was made durable and committed.
   */
  async #processBatch(consumer: Consumer, stopping: AbortSignal, payload: EachBatchPayload, previous: Predecessor | undefined, handBack: () => void): Promise<boolean> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const active = () => isRunning() && !isStale() && !this.#stop.aborted;
    const { topic, partition } = batch;
    const key = `${topic}/${partition}`;
    // kafkajs hands over a failed heartbeat as it is (the fault run saw both sinks stop on a raw
    // ECONNREFUSED, INTERNAL, while Kafka was away): classified here like every Kafka failure.
    const beat = () => kafkaCall(heartbeat, `heartbeat while processing ${key}`);
    let before = previous;
    let predecessorLost = false;
    const commit = async (last: string, records: number): Promise<void> => {
      if (before) {
        // Offsets are committed in order: nothing of this batch before the previous one is durable.
        // A previous batch that failed is followed only by the batch its rewind fetched.
        if (!(await before.durable) && !before.rewound) {
          predecessorLost = true;
          throw new CdcError('INTERNAL', `The batch before this one of ${key} was not made durable`, { retriable: true });
        }
        before = undefined;
      }
      // Once handed back, the batch's last offset is resolved already (kafkajs fetches after it).
      if (!handedBack) resolveOffset(last);
      await this.#commit(consumer, topic, partition, last);
      this.counts.set(topic, (this.counts.get(topic) ?? 0) + records);
    };
    let handedBack = false;
    const handBackBatch = () => {
      if (handedBack) return;
      handedBack = true;
      // The next fetch starts after this batch (kafkajs resolves its trailing markers with it).
      if (!isStale()) resolveOffset(batch.messages.at(-1)!.offset);
      handBack();
    };
    const progress = { next: 0 };
    try {
      const retryLog = new RetryLog(this.#settings.retryWarnMs);
      for (let attempt = 0; ; attempt++) {
        try {
          await this.#pipeline.process(batch, progress, { heartbeat: beat, active, stopping, commit, handBack: handBackBatch });
          if (progress.next < batch.messages.length) return false;
          this.held.delete(key);
          const rewinds = this.#rewinds.get(key);
          if (rewinds) {
            rewinds.attempt = 0;
            rewinds.log.succeeded();
          }
          return true;
        } catch (error) {
          // The batch before it failed and was rewound, or its consumer rejoins or stops: this one goes with it.
          if (predecessorLost) return false;
          // The group moved on (a member joined or left) while this batch committed: its
          // partitions may now be elsewhere. kafkajs rejoins when the error leaves eachBatch (or,
          // once the batch was handed back, at its next heartbeat); whoever owns them next
          // re-delivers from the last commit, and versions make that safe.
          const over = lostGeneration(error);
          if (over) {
            if (handedBack) return false;
            throw over;
          }
          const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
          this.#onError(cdc);
          if (!cdc.retriable || !active()) {
            // A consumer being replaced (topic refresh) or stopped fails its last commit (kafkajs:
            // "Consumer group was not initialized"): the batch is abandoned, not failed. kafkajs still
            // hands the error to the consumer's crash handling, which must then restart the consumer
            // rather than stop it for good (a fault run saw a sink stop so while Kafka restarted).
            const abandoned = !active() || stopping.aborted;
            if (!abandoned) this.fatal ??= cdc;
            if (handedBack) {
              // kafkajs goes on fetching the partition after a handed-back batch; the service stops
              // with the fatal error at its next check, and until then nothing more of it is read.
              if (!abandoned) consumer.pause([{ topic, partitions: [partition] }]);
              return false;
            }
            throw abandoned && !cdc.retriable ? new CdcError(cdc.code, `A batch of ${key} was abandoned: ${cdc.message}`, { cause: cdc, retriable: true }) : cdc;
          }
          this.held.set(key, cdc);
          this.#metrics.batchRetries.inc({ code: cdc.code });
          if (handedBack) return this.#rewind(consumer, batch, progress.next, cdc, active, beat);
          const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt, 8));
          retryLog.failed(this.#log, cdc, { topic, partition, retryInMs: delay }, 'batch failed; retrying');
          await this.#backOff(delay, active, beat);
        }
      }
    } finally {
      // Durable, or given up (a retry in place keeps the same progress): no longer a waiting batch.
      this.#pipeline.forget(progress);
    }
  }

  /**
   * Retries a batch that failed after it was handed back: after a backoff (heartbeating, so the
   * partition stays here), the partition is rewound to the batch's first record not committed.
   * Resolves false: the batch was not made durable, and the one fetched after it is dropped.
   */
  async #rewind(consumer: Consumer, batch: Batch, next: number, error: CdcError, active: () => boolean, beat: () => Promise<void>): Promise<boolean> {
    const { topic, partition } = batch;
    const key = `${topic}/${partition}`;
    const rewinds = this.#rewinds.get(key) ?? { count: 0, attempt: 0, log: new RetryLog(this.#settings.retryWarnMs) };
    this.#rewinds.set(key, rewinds);
    const delay = backoffDelay(DEFAULT_RETRY, Math.min(rewinds.attempt++, 8));
    const offset = batch.messages[next]!.offset;
    rewinds.log.failed(this.#log, error, { topic, partition, retryInMs: delay, offset }, 'batch failed; retrying from its first record not committed');
    await this.#backOff(delay, active, beat);
    if (!active()) return false;
    consumer.seek({ topic, partition, offset });
    rewinds.count++;
    return false;
  }

  /** Waits `delay` ms, heartbeating every second, or less once the batch's consumer stops. */
  async #backOff(delay: number, active: () => boolean, beat: () => Promise<void>): Promise<void> {
    for (const until = Date.now() + delay; Date.now() < until && active(); ) {
      await sleep(Math.min(1000, until - Date.now()));
      await beat();
    }
  }

  /**
   * Commits `last + 1` on a partition through the consumer that delivered it (a topic refresh may
   * already have replaced it). A partition's commits run one after another, in the order asked.
   */
  #commit(consumer: Consumer, topic: string, partition: number, last: string): Promise<void> {
    const key = `${topic}/${partition}`;
    const next = BigInt(last) + 1n;
    const run = async (): Promise<void> => {
      await kafkaCall(() => consumer.commitOffsets([{ topic, partition, offset: next.toString() }]), `committing offset ${next} of ${key}`);
      this.positions.set(key, next.toString());
    };
    const queued = (this.#commits.get(key) ?? Promise.resolve()).then(run, run);
    this.#commits.set(key, queued);
    return queued;
  }
}
