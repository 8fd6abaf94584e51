import type { Kafka } from 'kafkajs';
import { TransactionalWriter } from '../../src/source/kafka-writer.ts';

/** A transactional writer with one source's plain settings over `kafka` (a stand-in client, in unit tests). */
export function writerOver(kafka: Kafka): TransactionalWriter {
  return new TransactionalWriter(kafka, {
    exactlyOnce: true,
    sourceId: 's1',
    offsetsTopic: 'cdc.offsets',
    partitions: 1,
    replicationFactor: 1,
    maxMessageBytes: 1 << 20,
    compression: 'none',
  });
}
