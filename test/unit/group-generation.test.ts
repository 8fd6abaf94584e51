import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { kafkaError, lostGeneration } from '../../src/core/kafka.ts';

/**
 * Found by the fault run (docs/faults.md): Elasticsearch restarted for two minutes, the group
 * rebalanced meanwhile, and both sinks then stopped with KAFKA_ERROR "committing offset … failed:
 * The coordinator is not aware of this member" instead of rejoining. The commit's error reaches the
 * sink as kafkajs' retrier leaves it, a KafkaJSNonRetriableError whose cause is the protocol error.
 */
// Their constructors take more than kafkajs' type definitions declare.
const KafkaJSProtocolError = kafkajs.KafkaJSProtocolError as unknown as new (e: { message: string; type: string; code: number; retriable: boolean }) => Error;
const KafkaJSNonRetriableError = kafkajs.KafkaJSNonRetriableError as unknown as new (e: Error, options: { cause: Error }) => Error;

describe('a commit refused because the group generation is over', () => {
  const protocolError = (type: string, code: number) => new KafkaJSProtocolError({ message: 'The coordinator is not aware of this member', type, code, retriable: false });
  // kafkajs/src/retry/index.js: reject(new KafkaJSNonRetriableError(e, { cause: e.cause || e }))
  const asRetrierLeavesIt = (e: Error) => new KafkaJSNonRetriableError(e, { cause: e });

  for (const [type, code] of [
    ['UNKNOWN_MEMBER_ID', 25],
    ['REBALANCE_IN_PROGRESS', 27],
    ['ILLEGAL_GENERATION', 22],
  ] as const) {
    it(`is found through kafkajs' and our wrapping (${type}), as the typed error kafkajs rejoins on`, () => {
      const cause = protocolError(type, code);
      const wrapped = kafkaError(asRetrierLeavesIt(cause), 'committing offset 557 of t.db.m_geometry/1');
      assert.equal(lostGeneration(wrapped), cause);
      assert.equal(lostGeneration(cause), cause);
    });
  }

  it('is not any other commit failure', () => {
    assert.equal(lostGeneration(kafkaError(asRetrierLeavesIt(protocolError('GROUP_AUTHORIZATION_FAILED', 30)), 'committing')), undefined);
    assert.equal(lostGeneration(new Error('boom')), undefined);
  });
});
