import type { Kafka } from 'kafkajs';
import { kafkaError, listTopics } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** What the check needs from Kafka (kafkaPorts below; tests give stand-ins). */
export interface HangingTransactionPorts {
  /** Runs one transaction of this source's producer with an empty record on each partition and aborts it; where each record went. */
  abortWith(partitions: TopicPartition[]): Promise<Map<number, bigint>>;
  /** The offsets topic's partitions. */
  offsetsPartitions(): Promise<TopicPartition[]>;
  /** Per partition of the offsets topic, the offset below which a read_committed reader sees everything (the last stable offset). */
  lastStableOffsets(): Promise<Map<number, bigint>>;
  /** Every partition of the topics this source writes (TOPIC_PREFIX's) that exist now. */
  writtenPartitions(): Promise<TopicPartition[]>;
  sleep(ms: number): Promise<void>;
}

/** How long the abort markers may take to reach the offsets topic (markers are written after EndTxn answers). */
const MARKER_WAIT_MS = 5_000;
const POLL_MS = 100;

/**
 * Ends a transaction of this source that Kafka left pending, before the stored position is read.
 *
 * When the only broker shuts down while it completes a commit, its partitions have no leader and
 * the transaction coordinator skips their markers ("likely deleted already") yet records the
 * transaction as complete (docs/faults.md). Its records then stay pending: the offsets topic's last
 * stable offset stops below them, so the position they carry is not read at start, and the next
 * COMMIT marker of this producer id on each partition would commit them together with the same
 * changes sent again. An ABORT marker of the new epoch ends them instead.
 *
 * So every start aborts a transaction holding an empty record on each offsets partition. If the
 * last stable offset then moves past records that were pending before it, something of this
 * producer was hanging, and a second aborted transaction touches every partition the source
 * writes, so that no pending record of it is left to be committed later; its changes are then sent
 * again from the committed position. Another producer's transaction open on the offsets topic keeps
 * the last stable offset where it is: then nothing can be told, and nothing more is done.
 */
export async function endHangingTransaction(ports: HangingTransactionPorts, log: Logger): Promise<boolean> {
  const [stableBefore, offsetsPartitions] = await Promise.all([ports.lastStableOffsets(), ports.offsetsPartitions()]);
  const swept = await ports.abortWith(offsetsPartitions);
  // Partitions where something was pending below our record, and the offset the last stable offset passes once nothing is (our record and its marker).
  const pending = new Map<number, bigint>();
  for (const [partition, offset] of swept) if ((stableBefore.get(partition) ?? 0n) < offset) pending.set(partition, offset + 2n);
  if (pending.size === 0) return false;
  let cleared = false;
  for (let waited = 0; waited <= MARKER_WAIT_MS && !cleared; waited += POLL_MS) {
    const stable = await ports.lastStableOffsets();
    cleared = [...pending].some(([partition, past]) => (stable.get(partition) ?? 0n) >= past);
    if (!cleared) await ports.sleep(POLL_MS);
  }
  if (!cleared) return false;
  const partitions = await ports.writtenPartitions();
  log.warn(
    { code: 'KAFKA_TRANSACTION_UNRESOLVED', partitions: partitions.length },
    "records pending on the offsets topic ended with this start's abort: a transaction of this source that Kafka left without its markers (as when the only broker shuts down during a commit), or another source's that committed meanwhile; aborting whatever this source left pending on every partition it writes, and sending its changes again from the committed position",
  );
  if (partitions.length > 0) await ports.abortWith(partitions);
  return true;
}

/** The ports over Kafka: `abortWith` is the writer's, the rest an admin client's. */
export function kafkaPorts(kafka: Kafka, abortWith: HangingTransactionPorts['abortWith'], offsetsTopic: string, prefix: string): HangingTransactionPorts {
  const withAdmin = async <T>(what: string, work: (admin: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> => {
    const admin = kafka.admin();
    try {
      await admin.connect();
      return await work(admin);
    } catch (error) {
      throw kafkaError(error, what);
    } finally {
      await admin.disconnect();
    }
  };
  const partitionsOf = (admin: ReturnType<Kafka['admin']>, topics: string[]) =>
    topics.length === 0
      ? Promise.resolve([])
      : admin.fetchTopicMetadata({ topics }).then(({ topics: found }) => found.flatMap(({ name, partitions }) => partitions.map(({ partitionId }) => ({ topic: name, partition: partitionId }))));
  return {
    abortWith,
    offsetsPartitions: () => withAdmin(`reading the partitions of ${offsetsTopic}`, (admin) => partitionsOf(admin, [offsetsTopic])),
    lastStableOffsets: () => withAdmin(`reading the end offsets of ${offsetsTopic}`, async (admin) => new Map((await admin.fetchTopicOffsets(offsetsTopic)).map((o) => [o.partition, BigInt(o.high)]))),
    writtenPartitions: () =>
      withAdmin('listing the topics this source writes', async (admin) =>
        partitionsOf(
          admin,
          (await listTopics(admin)).filter((topic) => topic.startsWith(`${prefix}.`) && topic !== offsetsTopic),
        ),
      ),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
}
