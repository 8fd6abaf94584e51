import type { IHeaders, Kafka, Producer } from 'kafkajs';
import type { CdcError } from '../core/errors.ts';
import { kafkaError } from '../core/kafka.ts';

/** A record the sink could not apply, with where it came from and why. */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders | undefined;
  error: CdcError;
}

/**
 * Context headers in the spirit of Kafka Connect's `__connect.errors.*`, so existing tooling that
 * reads Connect dead-letter topics understands ours; `cdc.errors.*` add our code and the
 * Elasticsearch reason. The original key, value and headers are kept byte for byte.
 */
export function deadLetterHeaders(letter: DeadLetter, now = new Date()): IHeaders {
  const reason = (letter.error.details?.reason as string | undefined) ?? '';
  return {
    ...(letter.headers ?? {}),
    '__connect.errors.topic': letter.topic,
    '__connect.errors.partition': String(letter.partition),
    '__connect.errors.offset': letter.offset,
    '__connect.errors.exception.class.name': letter.error.code,
    '__connect.errors.exception.message': letter.error.message,
    'cdc.errors.code': letter.error.code,
    'cdc.errors.reason': reason,
    'cdc.errors.timestamp': now.toISOString(),
  };
}

export class DeadLetterQueue {
  readonly #kafka: Kafka;
  readonly #topic: string;
  #producer: Producer | undefined;
  #topicReady = false;

  constructor(kafka: Kafka, topic: string) {
    this.#kafka = kafka;
    this.#topic = topic;
  }

  get topic(): string {
    return this.#topic;
  }

  /** Resolves once every letter is acknowledged by all in-sync replicas. */
  async send(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    try {
      await this.#ensureTopic();
      this.#producer ??= this.#kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await this.#producer.connect();
      await this.#producer.send({
        topic: this.#topic,
        acks: -1,
        messages: letters.map((letter) => ({ key: letter.key, value: letter.value, headers: deadLetterHeaders(letter) })),
      });
    } catch (error) {
      throw kafkaError(error, `writing to the dead-letter topic ${this.#topic}`);
    }
  }

  async #ensureTopic(): Promise<void> {
    if (this.#topicReady) return;
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: this.#topic, numPartitions: 1 }] });
      this.#topicReady = true;
    } finally {
      await admin.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.#producer?.disconnect().catch(() => undefined);
    this.#producer = undefined;
  }
}
