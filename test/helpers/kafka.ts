import { Kafka, logLevel } from 'kafkajs';
import { JsonChangeReader } from '../../src/core/connect-json-reader.ts';
import { isJsonRecord } from '../../src/core/json-record.ts';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { avroOptions } from '../../src/core/avro-types.ts';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { stackEnv } from './stack.ts';

export interface TopicRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  decodedKey: Record<string, unknown> | null;
  decodedValue: Record<string, unknown> | null;
  /** Set (with `keepUndecodable`) when the key or value is neither Avro of the registry nor JSON: a poison record. */
  undecodable?: true;
  headers?: Record<string, string>;
}

export function testKafka(): Kafka {
  return new Kafka({ clientId: 'cdc-tests', brokers: stackEnv().KAFKA_BROKERS.split(','), logLevel: logLevel.NOTHING });
}

/**
 * Reads a whole topic (read_committed) and decodes it (through the registry for Avro). A record that
 * cannot be decoded fails the read, unless `keepUndecodable`: then it is kept, marked, undecoded.
 */
export async function readTopic(topic: string, timeoutMs = 30_000, options: { keepUndecodable?: boolean } = {}): Promise<TopicRecord[]> {
  // The registry library's own decoder: an oracle independent of the services' decoding.
  const registry = new SchemaRegistry({ host: stackEnv().SCHEMA_REGISTRY_URL }, { [SchemaType.AVRO]: avroOptions as never });
  const records: TopicRecord[] = [];
  // VALUE_CONVERTER=json records carry their schema; the others are Confluent-framed Avro. Both decode to canonical values.
  const json = new JsonChangeReader();
  const decode = async (buffer: Buffer, what: 'key' | 'value') =>
    isJsonRecord(buffer) ? (what === 'key' ? json.key(buffer) : json.value(buffer).payload) : ((await registry.decode(buffer)) as Record<string, unknown>);
  await readTopicToEnd(
    testKafka(),
    topic,
    async (message, partition) => {
      const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
      try {
        records.push({
          partition,
          offset: message.offset,
          key: message.key,
          value: message.value,
          decodedKey: message.key ? await decode(message.key, 'key') : null,
          decodedValue: message.value ? await decode(message.value, 'value') : null,
          headers,
        });
      } catch (error) {
        if (!options.keepUndecodable) throw error;
        records.push({ partition, offset: message.offset, key: message.key, value: message.value, decodedKey: null, decodedValue: null, undecodable: true, headers });
      }
    },
    { timeoutMs },
  );
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
