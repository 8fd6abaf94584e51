import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { groupMessagesPerPartition, KAFKAJS_GROUPING_MODULE } from '../../src/core/kafkajs-grouping.ts';
import '../../src/core/kafka.ts';

type Grouping = typeof groupMessagesPerPartition;

/** kafkajs' own grouping, evaluated from its file (the module cache holds ours). */
function kafkajsGrouping(): Grouping {
  const module = { exports: {} as Grouping };
  new Function('module', 'exports', readFileSync(KAFKAJS_GROUPING_MODULE, 'utf8'))(module, module.exports);
  return module.exports;
}

describe('kafkajs per-partition grouping', () => {
  it('groups as kafkajs does: the same partitions, each with its messages in the order given', () => {
    const original = kafkajsGrouping();
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const partitions of [0, 1, 3, 12]) {
      const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId }));
      const messages = Array.from({ length: 500 }, (_, i) => ({ key: `k${Math.floor(random() * 50)}`, value: `v${i}` }));
      const partitioner = ({ message }: { message: { key: string } }) => Number(message.key.slice(1)) % Math.max(partitions, 1);
      const args = { topic: 't', partitionMetadata, messages, partitioner };
      assert.deepEqual(groupMessagesPerPartition(args), original(args));
    }
  });

  it('is the one kafkajs sends with once core/kafka.ts is loaded', () => {
    const require = createRequire(import.meta.url);
    assert.equal(require(KAFKAJS_GROUPING_MODULE), groupMessagesPerPartition);
  });
});
