import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import kafkajs from 'kafkajs';
import { createTopics, isFencedError, kafkaCall, kafkaError, listTopics } from '../../src/core/kafka.ts';
import { type ClassifierRow, classifies } from '../helpers/classifier-table.ts';

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

const KafkaJSError = kafkajs.KafkaJSError as unknown as new (message: string, options?: { retriable?: boolean }) => Error;
const KafkaJSTimeout = (kafkajs as unknown as { KafkaJSTimeout: new (message: string) => Error }).KafkaJSTimeout;

describe('Kafka errors, by kafkajs class, protocol code and errno', () => {
  const protocol = (type: string, code: number, retriable: boolean) => new KafkaJSProtocolError({ message: type, type, code, retriable });
  const table: ClassifierRow[] = [
    ['NOT_LEADER_FOR_PARTITION (6, retriable)', protocol('NOT_LEADER_FOR_PARTITION', 6, true), 'KAFKA_UNAVAILABLE', true],
    ['COORDINATOR_NOT_AVAILABLE (15, retriable)', protocol('COORDINATOR_NOT_AVAILABLE', 15, true), 'KAFKA_UNAVAILABLE', true],
    ['MESSAGE_TOO_LARGE (10)', protocol('MESSAGE_TOO_LARGE', 10, false), 'KAFKA_ERROR', false],
    ['TOPIC_AUTHORIZATION_FAILED (29)', protocol('TOPIC_AUTHORIZATION_FAILED', 29, false), 'KAFKA_ERROR', false],
    ['KafkaJSConnectionError', Object.assign(new KafkaJSError('Connection error: connect ECONNREFUSED', { retriable: true }), { name: 'KafkaJSConnectionError' }), 'KAFKA_UNAVAILABLE', true],
    ['KafkaJSTimeout (non-retriable to kafkajs)', new KafkaJSTimeout('Timeout while acquiring lock'), 'KAFKA_UNAVAILABLE', true],
    ['a bare socket error (ECONNRESET)', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'KAFKA_UNAVAILABLE', true],
    ['a non-retriable error whose text mentions a connection (text does not decide)', new KafkaJSError('Connection string invalid', { retriable: false }), 'KAFKA_ERROR', false],
  ];
  classifies(table, (error) => kafkaError(error, 'sending'));

  it('fencing is INVALID_PRODUCER_EPOCH or TRANSACTIONAL_ID_AUTHORIZATION_FAILED anywhere in the chain', () => {
    const epoch = protocol('INVALID_PRODUCER_EPOCH', 47, false);
    assert.ok(isFencedError(epoch));
    assert.ok(isFencedError(new KafkaJSNonRetriableError(epoch, { cause: epoch })));
    assert.ok(isFencedError(protocol('TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 53, false)));
    assert.ok(!isFencedError(protocol('NOT_LEADER_FOR_PARTITION', 6, true)));
    assert.ok(!isFencedError(new Error('the producer was fenced')), 'a text alone does not fence');
  });
});

/**
 * Found by the fault run (docs/faults.md): during a broker restart both sinks exited on a TypeError
 * from kafkajs' listTopics, which destructures a null metadata answer when no broker answered.
 * The state cannot be produced on demand against a real broker, so an admin stand-in throws it.
 */
describe('listTopics while no broker answers', () => {
  it('is a retriable KAFKA_UNAVAILABLE, whichever caller classifies it', async () => {
    const admin = {
      listTopics: async (): Promise<string[]> => {
        throw new TypeError("Cannot destructure property 'topicMetadata' of 'undefined' as it is undefined.");
      },
    };
    const error = await listTopics(admin).then(
      () => assert.fail('the stand-in always throws'),
      (e: unknown) => e,
    );
    const classified = kafkaError(error, 'listing topics');
    assert.equal(classified.code, 'KAFKA_UNAVAILABLE');
    assert.equal(classified.retriable, true);
  });

  it('passes other failures on unchanged, for the caller to classify', async () => {
    const refused = new Error('not authorized');
    const admin = {
      listTopics: async (): Promise<string[]> => {
        throw refused;
      },
    };
    await assert.rejects(listTopics(admin), (e) => e === refused);
  });
});

/**
 * Found by the fault run (docs/faults.md): both sinks stopped with INTERNAL "Connection error:
 * connect ECONNREFUSED" while Kafka was away, because the heartbeat kafkajs gives eachBatch rejects
 * with its own error as it is. The sink's calls into kafkajs go through kafkaCall.
 */
describe('kafkaCall', () => {
  it('turns a refused heartbeat into a retriable KAFKA_UNAVAILABLE', async () => {
    const refused = Object.assign(new KafkaJSError('Connection error: connect ECONNREFUSED 127.0.0.1:39122', { retriable: true }), { name: 'KafkaJSConnectionError' });
    await assert.rejects(
      kafkaCall(async () => {
        throw refused;
      }, 'heartbeat while processing t/0'),
      (error: Error & { code?: string; retriable?: boolean }) => error.code === 'KAFKA_UNAVAILABLE' && error.retriable === true,
    );
  });

  // The next fault run: a heartbeat's REBALANCE_IN_PROGRESS, coded, crashed the consumer instead of rejoining.
  it("hands an error that ends the group generation back as it is, so that kafkajs' runner rejoins on its type", async () => {
    const rebalancing = new KafkaJSProtocolError({ message: 'The group is rebalancing, so a rejoin is needed', type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false });
    await assert.rejects(
      kafkaCall(async () => {
        throw rebalancing;
      }, 'heartbeat while processing t/0'),
      (error) => error === rebalancing,
    );
  });
});

/**
 * Found by the kafka-restart suite: right after a broker starts, CreateTopics answers
 * INVALID_REPLICATION_FACTOR (measured against the stack's Kafka: the first answer after a
 * restart), which kafkajs gathers into an aggregate error it does not retry, and the source stopped
 * on it. The admin is a stand-in for that answer (a real broker gives it only in that moment).
 */
describe('createTopics', () => {
  const KafkaJSAggregateError = (kafkajs as unknown as { KafkaJSAggregateError: new (message: string, errors: Error[]) => Error }).KafkaJSAggregateError;
  const adminAnswering = (brokers: number) =>
    ({
      createTopics: async () => {
        throw new KafkaJSAggregateError('Topic creation errors', [
          new KafkaJSProtocolError({ message: 'Replication-factor is invalid', type: 'INVALID_REPLICATION_FACTOR', code: 38, retriable: false }),
        ]);
      },
      describeCluster: async () => ({ brokers: Array.from({ length: brokers }, (_, nodeId) => ({ nodeId, host: 'k', port: 9092 })), controller: 0, clusterId: 'c' }),
    }) as unknown as Parameters<typeof createTopics>[0];
  const topics = (replicationFactor: number) => ({ topics: [{ topic: 't', numPartitions: 1, replicationFactor }] });

  it('is a retriable KAFKA_UNAVAILABLE while the cluster lists as many brokers as the factor (a broker still starting)', async () => {
    await assert.rejects(createTopics(adminAnswering(1), topics(1)), (error: Error & { code?: string; retriable?: boolean }) => error.code === 'KAFKA_UNAVAILABLE' && error.retriable === true);
  });

  it('is a KAFKA_ERROR naming the setting when the cluster has fewer brokers than the factor', async () => {
    await assert.rejects(
      createTopics(adminAnswering(1), topics(3)),
      (error: Error & { code?: string; retriable?: boolean; hint?: string }) => error.code === 'KAFKA_ERROR' && error.retriable === false && /TOPIC_REPLICATION_FACTOR/.test(error.hint ?? ''),
    );
  });
});
