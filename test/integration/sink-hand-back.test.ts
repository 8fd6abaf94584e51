import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { Batch } from 'kafkajs';
import { CdcError } from '../../src/core/errors.ts';
import type { PartitionHandle } from '../../src/sink/batch-pipeline.ts';
import { testKafka } from '../helpers/kafka.ts';
import { standInConsumer } from '../helpers/sink-consumer.ts';
import { waitFor } from '../helpers/wait.ts';

const RECORDS = 120;
const CHUNK = 8;

/**
 * A consumer whose stand-in pipeline writes chunks of a batch into a set (committing each), hands
 * the batch back to kafkajs with its last chunk in flight, and fails that chunk when `failure`
 * says so. Every commit is checked against what was written: none may claim an unwritten record.
 */
function handBackRun(failure: (seq: number, rewound: boolean) => CdcError | undefined) {
  const prefix = `handback-${randomUUID().slice(0, 8)}`;
  const run = { topic: `${prefix}.t`, written: new Set<number>(), violations: [] as string[], failedAt: new Set<string>(), batches: 0, dropped: 0, committedThrough: -1, errors: [] as CdcError[] };
  const pipeline = {
    async process(batch: Batch, progress: { next: number }, handle: PartitionHandle) {
      const seq = ++run.batches;
      // A batch its rewind fetched starts where a failed chunk started.
      const rewound = run.failedAt.has(batch.messages[0]!.offset);
      const commit = async (lastIndex: number) => {
        const last = Number(batch.messages[lastIndex]!.offset);
        try {
          await handle.commit(String(last), lastIndex + 1 - progress.next);
        } catch (error) {
          run.dropped++;
          throw error;
        }
        for (let offset = 0; offset <= last; offset++) if (!run.written.has(offset)) run.violations.push(`offset ${last} committed while ${offset} was not written`);
        run.committedThrough = Math.max(run.committedThrough, last);
        progress.next = lastIndex + 1;
      };
      const count = batch.messages.length;
      while (count - progress.next > CHUNK) {
        const end = progress.next + CHUNK - 1;
        for (let i = progress.next; i <= end; i++) run.written.add(Number(batch.messages[i]!.offset));
        await commit(end);
      }
      handle.handBack();
      const first = batch.messages[progress.next]!.offset;
      // Long enough for the next batch to be fetched and to reach its first commit.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const error = failure(seq, rewound);
      if (error) {
        run.failedAt.add(first);
        throw error;
      }
      for (let i = progress.next; i < count; i++) run.written.add(Number(batch.messages[i]!.offset));
      await commit(count - 1);
    },
  };
  const stop = new AbortController();
  const sink = standInConsumer(testKafka(), pipeline, prefix, stop.signal, (error) => run.errors.push(error));
  after(async () => {
    stop.abort();
    await sink.close();
  });
  const start = async () => {
    const kafka = testKafka();
    const admin = kafka.admin();
    const producer = kafka.producer();
    try {
      await admin.connect();
      await admin.createTopics({ waitForLeaders: true, topics: [{ topic: run.topic, numPartitions: 1 }] });
      await producer.connect();
      // Records of 100 KiB in separate sends: a 1 MiB partition fetch returns about ten of them.
      for (let i = 0; i < RECORDS; i++) await producer.send({ topic: run.topic, messages: [{ key: String(i), value: Buffer.alloc(100 * 1024, i % 256) }] });
    } finally {
      await admin.disconnect();
      await producer.disconnect();
    }
    await sink.refresh();
  };
  return { run, sink, start };
}

/**
 * The sink hands a batch back to kafkajs once its last chunk is in flight, so the partition's
 * next batch is fetched meanwhile. When such a last chunk then fails (Elasticsearch away), the
 * batch fetched after it must commit nothing, the partition must be rewound to the failed chunk,
 * and no commit may ever claim a record that was not written.
 */
describe('a batch failing after it was handed back', () => {
  // Every third batch taken fails its last chunk once; the retry its rewind fetched succeeds.
  const { run, sink, start } = handBackRun((seq, rewound) =>
    seq % 3 === 1 && !rewound ? new CdcError('ELASTICSEARCH_UNAVAILABLE', 'bulk request failed (injected)', { retriable: true }) : undefined,
  );

  it('rewinds to the failed chunk, drops the batch after it, and loses nothing', { timeout: 180_000 }, async () => {
    await start();
    await waitFor('every record is committed', () => run.committedThrough === RECORDS - 1 && sink.positions.get(`${run.topic}/0`) === String(RECORDS), 150_000, 200);
    assert.equal(sink.fatal, undefined, `the sink stopped: ${sink.fatal?.message}`);
    assert.deepEqual(run.violations.slice(0, 5), [], 'a commit claimed a record that was not written');
    for (let offset = 0; offset < RECORDS; offset++) assert.ok(run.written.has(offset), `offset ${offset} was never written`);
    assert.ok(run.failedAt.size >= 2, `only ${run.failedAt.size} last chunk(s) failed after their batch was handed back`);
    assert.ok(run.dropped >= 1, 'no batch fetched after a failed one was dropped at its first commit');
    assert.ok(run.errors.some((e) => e.code === 'ELASTICSEARCH_UNAVAILABLE'));
  });
});

describe('a handed-back batch failing for good', () => {
  // The second batch taken fails its last chunk with an error retrying cannot fix.
  const { run, sink, start } = handBackRun((seq) => (seq === 2 ? new CdcError('ELASTICSEARCH_REJECTED', 'record refused (injected)') : undefined));

  it('stops the sink with that error and commits nothing past the failed chunk', { timeout: 120_000 }, async () => {
    await start();
    await waitFor('the sink holds a fatal error', () => sink.fatal !== undefined, 60_000, 100);
    assert.match(sink.fatal!.message, /injected/);
    // The batch fetched after it is dropped, and the partition is read no further.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const failed = Math.min(...[...run.failedAt].map(Number));
    assert.ok(run.committedThrough < failed, `offset ${run.committedThrough} was committed past the failed chunk at ${failed}`);
    assert.deepEqual(run.violations.slice(0, 5), []);
    assert.ok(run.batches <= 4, `${run.batches} batches were taken after the failure`);
  });
});
