import { Kafka, logLevel } from 'kafkajs';
import { randomUUID } from 'node:crypto';
import { Registry } from '../../src/core/schema-registry.ts';
import { stackEnv } from './stack.ts';

export interface TopicRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  decodedKey: Record<string, unknown> | null;
  decodedValue: Record<string, unknown> | null;
}

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'cdc-tests', brokers: stackEnv().KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
}

/** Reads a whole topic (read_committed) and decodes it through the registry. */
export async function readTopic(topic: string, timeoutMs = 30_000): Promise<TopicRecord[]> {
  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const registry = new Registry({ url: stackEnv().SCHEMA_REGISTRY_URL });
  const consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}`, readUncommitted: false, maxWaitTimeInMs: 100 });
  const records: TopicRecord[] = [];
  const done = new Map(offsets.map((o) => [o.partition, o.high === o.low]));
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out reading ${topic}`)), timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      resolve();
    };
    consumer.on(consumer.events.FETCH, (e: { payload: { numberOfBatches: number } }) => {
      if (joined && e.payload.numberOfBatches === 0) finish();
    });
    if ([...done.values()].every(Boolean)) finish();
    consumer
      .run({
        eachMessage: async ({ message }) => {
          records.push({
            offset: message.offset,
            key: message.key,
            value: message.value,
            decodedKey: message.key ? ((await registry.client.decode(message.key)) as Record<string, unknown>) : null,
            decodedValue: message.value ? ((await registry.client.decode(message.value)) as Record<string, unknown>) : null,
          });
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return records;
}

export async function deleteTopics(prefix: string): Promise<void> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${prefix}.`));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
