import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger } from '../../src/core/logger.ts';
import { endHangingTransaction, type HangingTransactionPorts, type TopicPartition } from '../../src/source/hanging-transaction.ts';

/**
 * The broker state this handles (a transaction the coordinator records as complete whose markers
 * were never written, after the only broker shut down during a commit: docs/faults.md) cannot be
 * produced on demand, so Kafka is a stand-in here: the offsets partition's last stable offset as it
 * moves, and the transactions the check aborts.
 */
function offsetsTopic(options: { stableBefore: bigint; recordAt: bigint; stableAfter: bigint }) {
  const aborted: TopicPartition[][] = [];
  let reads = 0;
  const ports: HangingTransactionPorts = {
    abortWith: async (partitions) => {
      aborted.push(partitions);
      return new Map([[0, options.recordAt]]);
    },
    offsetsPartitions: async () => [{ topic: 'cdc.offsets', partition: 0 }],
    lastStableOffsets: async () => new Map([[0, reads++ === 0 ? options.stableBefore : options.stableAfter]]),
    writtenPartitions: async () => [
      { topic: 'cdc.db.a', partition: 0 },
      { topic: 'cdc.db.a', partition: 1 },
    ],
    sleep: async () => undefined,
  };
  return { ports, aborted };
}

const log = createLogger('silent', 'source');

describe('a transaction Kafka left pending', () => {
  it('nothing pending: only the offsets partition gets an aborted record', async () => {
    const { ports, aborted } = offsetsTopic({ stableBefore: 40n, recordAt: 40n, stableAfter: 42n });
    assert.equal(await endHangingTransaction(ports, log), false);
    assert.deepEqual(aborted, [[{ topic: 'cdc.offsets', partition: 0 }]]);
  });

  it('a record of ours pending below our record, cleared by our abort: every written partition is aborted too', async () => {
    const { ports, aborted } = offsetsTopic({ stableBefore: 37n, recordAt: 40n, stableAfter: 42n });
    assert.equal(await endHangingTransaction(ports, log), true);
    assert.deepEqual(aborted[1], [
      { topic: 'cdc.db.a', partition: 0 },
      { topic: 'cdc.db.a', partition: 1 },
    ]);
  });

  it("another producer's transaction still open holds the last stable offset: nothing more is done", async () => {
    const { ports, aborted } = offsetsTopic({ stableBefore: 37n, recordAt: 40n, stableAfter: 37n });
    assert.equal(await endHangingTransaction(ports, log), false);
    assert.equal(aborted.length, 1);
  });
});
