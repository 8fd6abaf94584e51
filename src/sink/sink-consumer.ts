import { setTimeout as sleep } from 'node:timers/promises';
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
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
    this.#pipeline.reset();
    await consumer?.disconnect().catch(() => undefined);
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
      // Bounded fetches: what the consumer holds is at most one fetch response per broker.
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
    });
    // A fetched batch that held only transaction markers (or aborted records) never reaches
    // eachBatch, and with autoCommit off kafkajs only moves its fetch position past it.
    consumer.on(consumer.events.END_BATCH_PROCESS, (event: { payload: { topic: string; partition: number; batchSize: number; lastOffset: string | null } }) => {
      const { topic, partition, batchSize, lastOffset } = event.payload;
      if (batchSize > 0 || lastOffset === null) return;
      this.#commit(consumer, topic, partition, lastOffset).catch((error: unknown) => {
        this.#log.warn({ ...errorFields(error as CdcError), topic, partition }, 'committing past transaction markers failed; the next batch commits past them');
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
      eachBatch: async (payload) => {
        this.#batchesInHand++;
        try {
          await this.#processBatch(consumer, stopping, payload);
        } finally {
          this.#batchesInHand--;
        }
      },
    });
    if (this.#pausedBy) consumer.pause([...topics].map((topic) => ({ topic })));
  }

  /**
   * Runs one fetched batch through the pipeline, retrying retriable failures with backoff while
   * heartbeating, so the partition is held until the batch is durable. A failure once the consumer
   * that delivered the batch stops (closed, or stopped by kafkajs to restart it) is never fatal:
   * whoever owns the partition next re-delivers the batch from the last commit.
   */
  async #processBatch(consumer: Consumer, stopping: AbortSignal, { batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload): Promise<void> {
    const active = () => isRunning() && !isStale() && !this.#stop.aborted;
    const { topic, partition } = batch;
    // kafkajs hands over a failed heartbeat as it is (the fault run saw both sinks stop on a raw
    // ECONNREFUSED, INTERNAL, while Kafka was away): classified here like every Kafka failure.
    const beat = () => kafkaCall(heartbeat, `heartbeat while processing ${topic}/${partition}`);
    const commit = async (last: string, records: number): Promise<void> => {
      resolveOffset(last);
      await this.#commit(consumer, topic, partition, last);
      this.counts.set(topic, (this.counts.get(topic) ?? 0) + records);
    };
    const progress = { next: 0 };
    const retryLog = new RetryLog(this.#settings.retryWarnMs);
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#pipeline.process(batch, progress, { heartbeat: beat, active, stopping, commit });
        this.held.delete(`${topic}/${partition}`);
        return;
      } catch (error) {
        // The group moved on (a member joined or left) while this batch committed: its
        // partitions may now be elsewhere. kafkajs rejoins when the error leaves eachBatch;
        // whoever owns them next re-delivers from the last commit, and versions make that safe.
        const over = lostGeneration(error);
        if (over) throw over;
        const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
        this.#onError(cdc);
        if (!cdc.retriable || !active()) {
          // A consumer being replaced (topic refresh) or stopped fails its last commit (kafkajs:
          // "Consumer group was not initialized"): the batch is abandoned, not failed. kafkajs still
          // hands the error to the consumer's crash handling, which must then restart the consumer
          // rather than stop it for good (a fault run saw a sink stop so while Kafka restarted).
          const abandoned = !active() || stopping.aborted;
          if (!abandoned) this.fatal ??= cdc;
          throw abandoned && !cdc.retriable ? new CdcError(cdc.code, `A batch of ${topic}/${partition} was abandoned: ${cdc.message}`, { cause: cdc, retriable: true }) : cdc;
        }
        this.held.set(`${topic}/${partition}`, cdc);
        const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt, 8));
        this.#metrics.batchRetries.inc({ code: cdc.code });
        retryLog.failed(this.#log, cdc, { topic, partition, retryInMs: delay }, 'batch failed; retrying');
        for (const until = Date.now() + delay; Date.now() < until && active(); ) {
          await sleep(Math.min(1000, until - Date.now()));
          await beat();
        }
      }
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
