import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { CdcError } from './errors.ts';
import { kafkaError } from './kafka.ts';
import { fetchedBatch } from './kafkajs-patches.ts';

/** Kafka's isolation level for a fetch and a list of offsets that sees committed records only. */
const READ_COMMITTED = 1;
/** Bytes asked for per fetch: the offsets and archive topics hold small records. */
const FETCH_MAX_BYTES = 4 * 1024 * 1024;
/** How long a fetch may wait on the broker for data (there always is some below the end read). */
const FETCH_MAX_WAIT_MS = 100;
const RETRY_DELAY_MS = 200;

type FetchedMessage = KafkaMessage & {
  isControlRecord?: boolean;
  /** Absent for messages of the formats before record batches (magic 0 and 1). */
  batchContext?: { firstOffset: string; lastOffsetDelta: number; producerId: string; inTransaction: boolean };
};

interface FetchedPartition {
  partition: number;
  messages: FetchedMessage[];
  abortedTransactions?: Array<{ producerId: string; firstOffset: string }>;
}

interface Broker {
  fetch(request: {
    replicaId?: number;
    isolationLevel: number;
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{ responses: Array<{ topicName: string; partitions: FetchedPartition[] }> }>;
}

/** What the reader uses of kafkajs' Cluster: brokers, metadata and offsets without a consumer group. */
interface Cluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  metadata(): Promise<{ topicMetadata: Array<{ topic: string }> }>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number; leader: number }>;
  findBroker(request: { nodeId: string }): Promise<Broker>;
  fetchTopicsOffset(
    topics: Array<{ topic: string; partitions: Array<{ partition: number }>; fromBeginning: boolean }>,
  ): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}

/**
 * A cluster of `kafka`'s brokers, as the client makes for its producers and consumers (its
 * connection, TLS, SASL and retry settings). kafkajs has no manual partition assignment: without
 * its Cluster, reading a topic would take a consumer group.
 */
function clusterOf(kafka: Kafka): Cluster {
  const create = Object.getOwnPropertySymbols(kafka).find((symbol) => symbol.description === 'private:Kafka:createCluster');
  if (!create) throw new CdcError('INTERNAL', 'This kafkajs version has no cluster factory where topic-reader.ts expects it');
  const factory = (kafka as unknown as Record<symbol, (options: object) => Cluster>)[create]!;
  return factory({ metadataMaxAge: 300_000, allowAutoTopicCreation: false, isolationLevel: READ_COMMITTED });
}

/**
 * Reads a whole topic, read_committed, up to the end it has when the read starts, then stops
 * (a missing topic reads as empty).
 *
 * It fetches each partition from its leader itself, without a consumer group: a new group waits
 * `group.initial.rebalance.delay.ms` before its first assignment (3 s unless the broker sets it
 * lower), and every start of a source reads its offsets this way.
 *
 * "The end" is tricky with transactions. It is the last stable offset (what a read_committed list
 * of offsets answers): below a transaction still open it stops short of the high watermark, and a
 * read_committed fetch never returns anything past it until that transaction ends, which may take
 * the broker's transaction timeout or longer (a producer gone during a Kafka restart). Commit
 * markers and aborted records take offsets but are never delivered: a fetch returns them with the
 * transactions aborted in its range, and kafkajs' Batch leaves them out.
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void, options: { timeoutMs?: number } = {}): Promise<void> {
  const cluster = clusterOf(kafka);
  try {
    await cluster.connect();
    if (!(await cluster.metadata()).topicMetadata.some((t) => t.topic === topic)) return;
    await cluster.addTargetTopic(topic);
    const partitions = cluster.findTopicPartitionMetadata(topic).map(({ partitionId }) => ({ partition: partitionId }));
    const offsets = async (fromBeginning: boolean) => new Map((await cluster.fetchTopicsOffset([{ topic, partitions, fromBeginning }]))[0]?.partitions.map((p) => [p.partition, BigInt(p.offset)]));
    const [starts, ends] = await Promise.all([offsets(true), offsets(false)]);
    const read: PartitionRead = { cluster, topic, onMessage, deadline: Date.now() + (options.timeoutMs ?? 60_000), logStarts: () => offsets(true) };
    for (const { partition } of partitions) await readPartition(read, partition, starts.get(partition) ?? 0n, ends.get(partition) ?? 0n);
  } catch (error) {
    throw error instanceof HandlerFailure ? error.error : kafkaError(error, `reading ${topic}`);
  } finally {
    await cluster.disconnect().catch(() => undefined);
  }
}

/** What `onMessage` threw, passed on as it is rather than as a Kafka failure. */
class HandlerFailure {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

interface PartitionRead {
  cluster: Cluster;
  topic: string;
  onMessage: (message: KafkaMessage, partition: number) => Promise<void> | void;
  deadline: number;
  /** Each partition's first offset now. */
  logStarts: () => Promise<Map<number, bigint>>;
}

async function readPartition(read: PartitionRead, partition: number, start: bigint, end: bigint): Promise<void> {
  const { cluster, topic, onMessage, deadline } = read;
  for (let offset = start; offset < end; ) {
    if (Date.now() > deadline) throw new CdcError('KAFKA_UNAVAILABLE', `Timed out reading ${topic} to its end`, { retriable: true });
    let fetched: FetchedPartition;
    try {
      fetched = await fetchFrom(cluster, topic, partition, offset, deadline);
    } catch (error) {
      // The log's start passed the offset (records deleted meanwhile): what is left starts there.
      const logStart = (error as { type?: string }).type === 'OFFSET_OUT_OF_RANGE' ? (await read.logStarts()).get(partition) : undefined;
      if (logStart === undefined || logStart <= offset) throw error;
      offset = logStart;
      continue;
    }
    const last = fetched.messages.at(-1);
    if (!last) {
      // Nothing decoded below the end: a record batch the log cleaner emptied (kept for its
      // producer's state) decodes to no records. It holds at least the offset asked for.
      offset += 1n;
      continue;
    }
    for (const message of deliverable(topic, offset, fetched)) {
      if (BigInt(message.offset) >= end) return;
      try {
        await onMessage(message, partition);
      } catch (error) {
        throw new HandlerFailure(error);
      }
    }
    // Past the last record batch, markers and aborted records included.
    const context = last.batchContext;
    const next = context ? BigInt(context.firstOffset) + BigInt(context.lastOffsetDelta) + 1n : BigInt(last.offset) + 1n;
    offset = next > offset ? next : offset + 1n;
  }
}

/** One fetch of `partition` from `offset`, from its leader; a leader moved (a retriable error) is looked up again until the deadline. */
async function fetchFrom(cluster: Cluster, topic: string, partition: number, offset: bigint, deadline: number): Promise<FetchedPartition> {
  for (;;) {
    try {
      const leader = cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition)?.leader;
      if (leader === undefined || leader === null) throw new CdcError('KAFKA_UNAVAILABLE', `No leader for ${topic}/${partition}`, { retriable: true });
      const broker = await cluster.findBroker({ nodeId: String(leader) });
      const { responses } = await broker.fetch({
        replicaId: -1,
        isolationLevel: READ_COMMITTED,
        maxWaitTime: FETCH_MAX_WAIT_MS,
        minBytes: 1,
        maxBytes: FETCH_MAX_BYTES,
        topics: [{ topic, partitions: [{ partition, fetchOffset: offset.toString(), maxBytes: FETCH_MAX_BYTES }] }],
      });
      return responses.find((r) => r.topicName === topic)?.partitions.find((p) => p.partition === partition) ?? { partition, messages: [] };
    } catch (error) {
      if (!isRetriable(error) || Date.now() > deadline) throw error;
      await sleep(RETRY_DELAY_MS);
      await cluster.refreshMetadata().catch(() => undefined);
    }
  }
}

function isRetriable(error: unknown): boolean {
  return error instanceof CdcError ? error.retriable : Boolean((error as { retriable?: boolean }).retriable);
}

/** The fetched records a consumer would get: from `offset` on, without control records and aborted transactions (kafkajs' Batch filters). */
function deliverable(topic: string, offset: bigint, fetched: FetchedPartition): KafkaMessage[] {
  return (fetchedBatch(topic, offset.toString(), { ...fetched, highWatermark: '-1' }) as { messages: KafkaMessage[] }).messages;
}
