import { SourcePosition } from '../src/core/position.ts';
import { readTopicToEnd } from '../src/core/topic-reader.ts';
import type { EncodedRecord } from '../src/source/encoded-record.ts';
import { TransactionalWriter } from '../src/source/kafka-writer.ts';
import { testKafka } from '../test/helpers/kafka.ts';
import { cpuByProcess, cpuUsPer } from './process-cpu.ts';
import { median } from './stats.ts';

/** Records a bare producer sends per call: the bench's insert transactions' size. */
const SEND_RECORDS = 1000;

/** One baseline's rate and where its CPU went, a record: this bench's process (the client) and Kafka. */
export interface ProducerFigure {
  rate: number;
  clientUs: number;
  kafkaUs: number;
}

/**
 * The two producer baselines over one topic's records, the medians of `runs` alternating runs
 * (one send alone varied by half between runs):
 * - `bare`: a kafkajs producer sending the already-encoded records without transactions, what
 *   the ratios divide by;
 * - `writer`: the source's own TransactionalWriter committing the same records,
 *   `perTransaction` a transaction with a position each, nothing read or encoded. That is what
 *   exactly-once costs Kafka and the client by itself, so `writer.rate ÷ bare.rate` bounds the
 *   exactly-once source's ratio before it reads or encodes a single row.
 */
export async function producerBaselines(topic: string, runs: number, perTransaction: number): Promise<{ bare: ProducerFigure; writer: ProducerFigure }> {
  const records: EncodedRecord[] = [];
  await readTopicToEnd(
    testKafka(),
    topic,
    (m) => {
      records.push({ topic: '', key: m.key, value: m.value, bytes: (m.key?.length ?? 0) + (m.value?.length ?? 0) });
    },
    { timeoutMs: 300_000 },
  );
  const bare: ProducerFigure[] = [];
  const writer: ProducerFigure[] = [];
  for (let run = 0; run < runs; run++) {
    bare.push(await timed(records.length, (target) => bareSend(target, records)));
    writer.push(await timed(records.length, (target) => writerCommits(target, records, perTransaction)));
  }
  const medianOf = (figures: ProducerFigure[]): ProducerFigure => ({
    rate: median(figures.map((f) => f.rate)),
    clientUs: median(figures.map((f) => f.clientUs)),
    kafkaUs: median(figures.map((f) => f.kafkaUs)),
  });
  return { bare: medianOf(bare), writer: medianOf(writer) };
}

/** Runs `send` into a new one-partition topic; `send` times itself after its connect. */
async function timed(records: number, send: (target: string) => Promise<number>): Promise<ProducerFigure> {
  const target = `bench.baseline.${Date.now()}`;
  const admin = testKafka().admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic: target, numPartitions: 1 }] });
  await admin.disconnect();
  const before = await cpuByProcess({});
  const seconds = await send(target);
  const after = await cpuByProcess({});
  // Both readings hold the connect and disconnect too: a few milliseconds against seconds of sending.
  return { rate: records / seconds, clientUs: cpuUsPer(before, after, 'bench', records), kafkaUs: cpuUsPer(before, after, 'Kafka', records) };
}

async function bareSend(target: string, records: EncodedRecord[]): Promise<number> {
  const producer = testKafka().producer();
  await producer.connect();
  const started = performance.now();
  for (let i = 0; i < records.length; i += SEND_RECORDS) await producer.send({ topic: target, messages: records.slice(i, i + SEND_RECORDS) });
  const seconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  return seconds;
}

async function writerCommits(target: string, records: EncodedRecord[], perTransaction: number): Promise<number> {
  const writer = new TransactionalWriter(testKafka(), {
    exactlyOnce: true,
    sourceId: target,
    offsetsTopic: `${target}.offsets`,
    partitions: 1,
    replicationFactor: 1,
    maxMessageBytes: 8 * 1024 * 1024,
    compression: 'none',
  });
  await writer.connect();
  await writer.ensureTopics([target, `${target}.offsets`]);
  const ofTarget = records.map((record) => ({ ...record, topic: target }));
  const started = performance.now();
  for (let i = 0; i < ofTarget.length; i += perTransaction) await writer.commit(ofTarget.slice(i, i + perTransaction), new SourcePosition('bench-bin.000001', 4 + i));
  const seconds = (performance.now() - started) / 1000;
  await writer.close();
  return seconds;
}
