import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs, { type Kafka } from 'kafkajs';
import { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import type { TransactionalWriter } from '../../src/source/kafka-writer.ts';
import { writerOver } from '../helpers/writer-over.ts';

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
  return writerOver(kafka);
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
  const table: Array<[string, string, number, string, boolean]> = [
    ['UNKNOWN_SERVER_ERROR: unresolved, a restart from the committed position is right either way', 'UNKNOWN_SERVER_ERROR', -1, 'KAFKA_TRANSACTION_UNRESOLVED', true],
    ['OUT_OF_ORDER_SEQUENCE_NUMBER (a produce retried after a timeout): a restart with a new producer', 'OUT_OF_ORDER_SEQUENCE_NUMBER', 45, 'KAFKA_TRANSACTION_UNRESOLVED', true],
    ['INVALID_PRODUCER_EPOCH: fenced, final', 'INVALID_PRODUCER_EPOCH', 47, 'SOURCE_FENCED', false],
    ['another non-retriable answer: KAFKA_ERROR, final', 'INVALID_TXN_STATE', 48, 'KAFKA_ERROR', false],
  ];
  for (const [title, type, code, expected, retriable] of table) {
    it(title, async () => {
      const error = await commitError(type, code);
      assert.equal(error.code, expected);
      assert.equal(error.retriable, retriable);
    });
  }
});
