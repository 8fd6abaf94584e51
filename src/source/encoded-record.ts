/**
 * A change as a Kafka record: what the encoder makes and the writer commits. A module of its own:
 * the oversize policy, which the encoder calls, makes records too (dead letters), and importing the
 * type from the encoder made the two files import each other.
 */
export interface EncodedRecord {
  topic: string;
  key: Buffer | null;
  /**
   * Set (0) for the records of keyless tables. With no key to partition by, Kafka would spread a
   * row's changes over the partitions, and the sink could apply a delete before the insert it
   * removes: Elasticsearch refuses that late insert by the delete's version only until it restarts
   * (delete versions are not kept across a restart), so the row came back. In one partition the
   * sink applies them in binlog order, and a replay replays the delete after the insert.
   */
  partition?: number;
  /** null for tombstones. */
  value: Buffer | null;
  /** Encoded size, for batch accounting. */
  bytes: number;
}
