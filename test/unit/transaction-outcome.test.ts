import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { TransactionalWriter } from '../../src/source/kafka-writer.ts';

// Their constructors take more than kafkajs' type definitions declare.
const KafkaJSProtocolError = kafkajs.KafkaJSProtocolError as unknown as new (e: { message: string; type: string; code: number; retriable: boolean }) => Error;
const KafkaJSNonRetriableError = kafkajs.KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error;

/**
 * Broker answers the real one gives only in a race or under load (docs/faults.md: a fenced source's
 * EndTxn got UNKNOWN_SERVER_ERROR; a loaded broker answered a retried produce request with
 * OUT_OF_ORDER_SEQUENCE_NUMBER), so the producer is a stand-in whose commit fails with a given protocol error,
 * wrapped as kafkajs hands over what its retrier gave up on.
 */
function writerWhoseCommitFails(type: string, code: number): TransactionalWriter {
  const answer = new KafkaJSProtocolError({ message: type, type, code, retriable: false });
  const transaction = {
    sendBatch: async () => [],
    commit: async () => {
      throw new KafkaJSNonRetriableError(answer, { cause: answer });
    },
    abort: async () => undefined,
    isActive: () => false,
  };
  const producer = { connect: async () => undefined, transaction: async () => transaction, disconnect: async () => undefined };
  const kafka = { producer: () => producer } as unknown as Kafka;
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

async function commitError(type: string, code: number): Promise<CdcError> {
  const error = await writerWhoseCommitFails(type, code)
    .commit([], new SourcePosition('binlog.000001', 330, 0, '0-101-9'))
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  assert.ok(error instanceof CdcError, `a CdcError, not ${String(error)}`);
  return error;
}

describe('a failed transaction commit', () => {
  it('with UNKNOWN_SERVER_ERROR is unresolved and retriable: a restart from the committed position is right either way', async () => {
    const error = await commitError('UNKNOWN_SERVER_ERROR', -1);
    assert.equal(error.code, 'KAFKA_TRANSACTION_UNRESOLVED');
    assert.equal(error.retriable, true);
  });

  it('with OUT_OF_ORDER_SEQUENCE_NUMBER (a produce retried after a timeout) restarts with a new producer', async () => {
    const error = await commitError('OUT_OF_ORDER_SEQUENCE_NUMBER', 45);
    assert.equal(error.code, 'KAFKA_TRANSACTION_UNRESOLVED');
    assert.equal(error.retriable, true);
  });

  it('with INVALID_PRODUCER_EPOCH is SOURCE_FENCED, final', async () => {
    const error = await commitError('INVALID_PRODUCER_EPOCH', 47);
    assert.equal(error.code, 'SOURCE_FENCED');
    assert.equal(error.retriable, false);
  });

  it('with another non-retriable answer stays KAFKA_ERROR, final', async () => {
    const error = await commitError('INVALID_TXN_STATE', 48);
    assert.equal(error.code, 'KAFKA_ERROR');
    assert.equal(error.retriable, false);
  });
});
