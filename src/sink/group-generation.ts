import { causeChain } from '../core/errors.ts';

const GENERATION_OVER = /^(REBALANCE_IN_PROGRESS|UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION|FENCED_INSTANCE_ID)$/;

/**
 * The error, anywhere in a failure's cause chain, saying this member's group generation is over
 * (a rebalance moved its partitions while a batch was written): kafkajs rejoins when that error,
 * with its `type`, leaves eachBatch. A failed commit arrives wrapped twice (kafkajs' retrier makes
 * the protocol error the cause of a KafkaJSNonRetriableError, and kafkaError wraps that), so the
 * whole chain is searched.
 */
export function lostGeneration(error: unknown): Error | undefined {
  for (const e of causeChain(error)) if (GENERATION_OVER.test(String((e as { type?: unknown }).type ?? ''))) return e as Error;
  return undefined;
}
