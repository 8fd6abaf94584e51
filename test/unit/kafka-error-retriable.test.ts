import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { kafkaError } from '../../src/core/kafka.ts';

// Their constructors take more than kafkajs' type definitions declare.
const KafkaJSProtocolError = kafkajs.KafkaJSProtocolError as unknown as new (e: { message: string; type: string; code: number; retriable: boolean }) => Error;
const KafkaJSNonRetriableError = kafkajs.KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error;
const KafkaJSGroupCoordinatorNotFound = kafkajs.KafkaJSGroupCoordinatorNotFound as unknown as new (message: string) => Error;

/**
 * Found by the fault run (docs/faults.md): right after a Kafka restart both sinks stopped with
 * KAFKA_ERROR "committing offset … failed: The coordinator is loading and hence can't process
 * requests for this group". GROUP_LOAD_IN_PROGRESS is retriable, but kafkajs' retrier, once it gives
 * up, hands it over as the cause of a non-retriable error (KafkaJSNumberOfRetriesExceeded).
 */
describe('kafkaError of an error kafkajs gave up retrying', () => {
  const loading = new KafkaJSProtocolError({ message: "The coordinator is loading and hence can't process requests for this group", type: 'GROUP_LOAD_IN_PROGRESS', code: 14, retriable: true });

  it('is retriable when its cause is', () => {
    const error = kafkaError(new KafkaJSNonRetriableError(loading, { cause: loading }), 'committing offset 85 of t.db.nokey/0');
    assert.equal(error.retriable, true);
    assert.equal(error.code, 'KAFKA_UNAVAILABLE');
  });

  it('is retriable when no broker answered the coordinator lookup (kafkajs marks that final)', () => {
    const error = kafkaError(new KafkaJSGroupCoordinatorNotFound('Failed to find group coordinator'), 'committing a transaction');
    assert.equal(error.retriable, true);
    assert.equal(error.code, 'KAFKA_UNAVAILABLE');
  });

  it('stays non-retriable when no error of the chain is retriable', () => {
    const unknownMember = new KafkaJSProtocolError({ message: 'The coordinator is not aware of this member', type: 'UNKNOWN_MEMBER_ID', code: 25, retriable: false });
    assert.equal(kafkaError(new KafkaJSNonRetriableError(unknownMember, { cause: unknownMember }), 'committing').retriable, false);
  });
});
