import { offsetsTopic } from '../core/topics.ts';
import type { Admin, Kafka } from 'kafkajs';
import { CdcError } from '../core/errors.ts';
import { kafkaError, listTopics } from '../core/kafka.ts';
import type { OffsetsConfig } from '../config/offsets.ts';
import { sinkTopicPatterns } from '../config/sink.ts';
import { readStoredOffset } from '../core/source-offsets.ts';

/**
 * `cdc offsets show|reset`: the operator's view of where each side stands, and the one supported
 * way to make a sink group replay (or skip). A reset moves only the group's committed offsets;
 * replaying into a live index is safe because every document carries its source version.
 */

export interface PartitionOffsets {
  topic: string;
  partition: number;
  /** Committed offset of the group; null when it never committed on this partition. */
  committed: string | null;
  low: string;
  high: string;
  /** `high - committed`: offsets, not records (see LAG_COUNTS). */
  lag: string;
}

/** What `lag` counts, printed with it: readers take it for a number of records. */
export const LAG_COUNTS =
  'Offsets from the committed offset to the log end (high). Transaction markers and aborted records take offsets too, so this is an upper bound on the records still to consume; a caught-up group shows 0 (the sink commits past the markers it has read).';

export interface OffsetsReport {
  source: { sourceId: string; position: unknown; committedAt: string } | null;
  group: { id: string; state: string; members: number };
  lagCounts: string;
  partitions: PartitionOffsets[];
}

export async function showOffsets(kafka: Kafka, config: OffsetsConfig): Promise<OffsetsReport> {
  return withAdmin(kafka, 'reading offsets', async (admin) => {
    const stored = config.SOURCE_ID ? await readStoredOffset(kafka, offsetsTopic(config.TOPIC_PREFIX), config.SOURCE_ID, 30_000) : undefined;
    return {
      source: config.SOURCE_ID && stored ? { sourceId: config.SOURCE_ID, position: stored.position.toJSON(), committedAt: new Date(stored.ts).toISOString() } : null,
      group: await groupOf(admin, config.SINK_GROUP_ID),
      lagCounts: LAG_COUNTS,
      partitions: await partitionOffsets(admin, config),
    };
  });
}

/** Where a reset moves each partition: `earliest`, `latest`, `timestamp=<ms|ISO-8601>` or `offset=<n>`. */
export type ResetTarget = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'timestamp'; ms: number } | { kind: 'offset'; offset: bigint };

export function parseResetTarget(text: string): ResetTarget {
  if (text === 'earliest' || text === 'latest') return { kind: text };
  const [name, value = ''] = text.split(/=(.*)/s);
  if (name === 'offset' && /^\d+$/.test(value)) return { kind: 'offset', offset: BigInt(value) };
  if (name === 'timestamp') {
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (Number.isFinite(ms)) return { kind: 'timestamp', ms };
  }
  throw new CdcError('ARGUMENT_INVALID', `--to ${JSON.stringify(text)} is not a reset target`, {
    hint: "Use earliest, latest, timestamp=<ms since the epoch or ISO-8601 time> or offset=<n> (clamped to each partition's range).",
  });
}

export interface ResetPlan {
  group: string;
  /** Running members of the group: a dry run shows the plan anyway, a real reset is refused. */
  members: number;
  changes: Array<{ topic: string; partition: number; from: string | null; to: string }>;
}

/**
 * Computes (and unless `dryRun`, applies) the new committed offsets of the group on every
 * partition of the sink's topics. A real reset is refused while the group has members: a running
 * sink would overwrite the reset with its next commit.
 */
export async function resetOffsets(kafka: Kafka, config: OffsetsConfig, target: ResetTarget, dryRun: boolean): Promise<ResetPlan> {
  return withAdmin(kafka, 'resetting offsets', async (admin) => {
    const group = await groupOf(admin, config.SINK_GROUP_ID);
    if (group.members > 0 && !dryRun) {
      throw new CdcError('GROUP_ACTIVE', `Consumer group ${group.id} has ${group.members} running member(s) (state ${group.state})`, {
        hint: 'Stop every sink of this group, then run the reset again (add --dry-run to preview).',
        details: { group: group.id, state: group.state },
      });
    }
    const partitions = await partitionOffsets(admin, config);
    const byTimestamp = new Map<string, Map<number, string>>();
    if (target.kind === 'timestamp') {
      for (const topic of new Set(partitions.map((p) => p.topic))) {
        byTimestamp.set(topic, new Map((await admin.fetchTopicOffsetsByTimestamp(topic, target.ms)).map((e) => [e.partition, e.offset])));
      }
    }
    const changes = partitions.map((p) => ({ topic: p.topic, partition: p.partition, from: p.committed, to: newOffset(p, target, byTimestamp) }));
    if (!dryRun) {
      for (const topic of new Set(changes.map((c) => c.topic))) {
        const entries = changes.filter((c) => c.topic === topic).map((c) => ({ partition: c.partition, offset: c.to }));
        await admin.setOffsets({ groupId: config.SINK_GROUP_ID, topic, partitions: entries });
      }
    }
    return { group: config.SINK_GROUP_ID, members: group.members, changes };
  });
}

function newOffset(p: PartitionOffsets, target: ResetTarget, byTimestamp: Map<string, Map<number, string>>): string {
  const clamp = (offset: bigint) => (offset < BigInt(p.low) ? p.low : offset > BigInt(p.high) ? p.high : offset.toString());
  switch (target.kind) {
    case 'earliest':
      return p.low;
    case 'latest':
      return p.high;
    case 'offset':
      return clamp(target.offset);
    case 'timestamp': {
      // -1: no record at or after the time, so the group starts at the end.
      const found = byTimestamp.get(p.topic)?.get(p.partition);
      return found === undefined || found === '-1' ? p.high : clamp(BigInt(found));
    }
  }
}

async function groupOf(admin: Admin, groupId: string): Promise<OffsetsReport['group']> {
  const { groups } = await admin.describeGroups([groupId]);
  const group = groups[0];
  return { id: groupId, state: group?.state ?? 'Dead', members: group?.members.length ?? 0 };
}

/** Every partition of the sink's topics with the group's committed offset, the log range and the lag. */
async function partitionOffsets(admin: Admin, config: OffsetsConfig): Promise<PartitionOffsets[]> {
  const patterns = sinkTopicPatterns(config);
  const topics = (await listTopics(admin)).filter((t) => patterns.some((re) => re.test(t))).sort();
  if (topics.length === 0) return [];
  const committed = new Map<string, string>();
  for (const t of await admin.fetchOffsets({ groupId: config.SINK_GROUP_ID, topics })) {
    for (const p of t.partitions) if (p.offset !== '-1') committed.set(`${t.topic}:${p.partition}`, p.offset);
  }
  const out: PartitionOffsets[] = [];
  for (const topic of topics) {
    for (const entry of (await admin.fetchTopicOffsets(topic)).sort((a, b) => a.partition - b.partition)) {
      const mine = committed.get(`${topic}:${entry.partition}`) ?? null;
      const lag = BigInt(entry.high) - BigInt(mine ?? entry.low);
      out.push({ topic, partition: entry.partition, committed: mine, low: entry.low, high: entry.high, lag: (lag < 0n ? 0n : lag).toString() });
    }
  }
  return out;
}

async function withAdmin<T>(kafka: Kafka, what: string, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await work(admin);
  } catch (error) {
    throw error instanceof CdcError ? error : kafkaError(error, what);
  } finally {
    await admin.disconnect();
  }
}
