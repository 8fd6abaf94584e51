import type { IHeaders, Kafka, Message, Producer } from 'kafkajs';
import type { CdcError } from '../core/errors.ts';
import { createTopics, kafkaError } from '../core/kafka.ts';
import { errorHeaders } from '../core/dead-letter-headers.ts';
import { raiseMessageLimits } from '../core/topic-limits.ts';
import { maxMessageBytesConfig } from '../core/topics.ts';

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

/** The original headers, then the context (core/dead-letter-headers.ts); the original key, value and headers are kept byte for byte. */
export function deadLetterHeaders(letter: DeadLetter, now = new Date()): IHeaders {
  return { ...(letter.headers ?? {}), ...errorHeaders(letter.error, letter, now) };
}

/** Headers, attributes and batch framing a letter adds to its key and value, at most. */
const LETTER_OVERHEAD_BYTES = 4096;

export class DeadLetterQueue {
  readonly #kafka: Kafka;
  readonly #topic: string;
  readonly #maxMessageBytes: number;
  #producer: Producer | undefined;
  #topicReady = false;

  /** `maxMessageBytes`: the topic's max.message.bytes when this creates it, and what a letter may take. */
  constructor(kafka: Kafka, topic: string, maxMessageBytes: number) {
    this.#kafka = kafka;
    this.#topic = topic;
    this.#maxMessageBytes = maxMessageBytes;
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
        messages: letters.map((letter) => this.#message(letter)),
      });
    } catch (error) {
      throw kafkaError(error, `writing to the dead-letter topic ${this.#topic}`);
    }
  }

  /** A letter too large for the topic keeps its key and context and drops its value: losing the value beats stopping on it. */
  #message(letter: DeadLetter): Message {
    const headers = deadLetterHeaders(letter);
    const bytes = (letter.key?.length ?? 0) + (letter.value?.length ?? 0) + LETTER_OVERHEAD_BYTES;
    if (bytes <= this.#maxMessageBytes || letter.value === null) return { key: letter.key, value: letter.value, headers };
    return { key: letter.key, value: null, headers: { ...headers, 'cdc.errors.value.bytes': String(letter.value.length) } };
  }

  async #ensureTopic(): Promise<void> {
    if (this.#topicReady) return;
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const created = await createTopics(admin, { waitForLeaders: true, topics: [{ topic: this.#topic, numPartitions: 1, configEntries: maxMessageBytesConfig(this.#maxMessageBytes) }] });
      // One created earlier (Kafka's 1 MiB default) must take the letters #message() lets through.
      if (!created) await raiseMessageLimits(admin, [this.#topic], this.#maxMessageBytes);
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
