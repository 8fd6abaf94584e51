import { createRequire } from 'node:module';

/**
 * kafkajs groups a send's records per partition with `[...current, message]` for every record, so
 * one send of n records to a partition copies n²/2 array slots: about 10 million for the 4,500
 * records of a 1 MiB slice, more than the rest of producing them. This module puts a linear
 * grouping with the same result in its place. It must be evaluated before kafkajs is (the module
 * that sends keeps the function it required at load), so core/kafka.ts and commands.ts import it
 * first; loaded later it changes nothing, and kafkajs groups as before, only slower.
 */

interface PartitionerArgs<M> {
  topic: string;
  partitionMetadata: unknown[];
  message: M;
}

/** The same grouping as kafkajs' groupMessagesPerPartition (partition → its messages in the order given), in one pass. */
export function groupMessagesPerPartition<M>({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: {
  topic: string;
  partitionMetadata: unknown[];
  messages: M[];
  partitioner: (args: PartitionerArgs<M>) => number;
}): Record<number, M[]> {
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition];
    if (current) current.push(message);
    else result[partition] = [message];
  }
  return result;
}

const require = createRequire(import.meta.url);

/** Where kafkajs keeps its grouping; the producer's sendMessages.js requires it at load. */
export const KAFKAJS_GROUPING_MODULE = require.resolve('kafkajs/src/producer/groupMessagesPerPartition.js');

require(KAFKAJS_GROUPING_MODULE);
const cached = require.cache[KAFKAJS_GROUPING_MODULE];
if (cached) cached.exports = groupMessagesPerPartition;
