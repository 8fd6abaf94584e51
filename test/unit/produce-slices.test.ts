import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TopicMessages } from 'kafkajs';
import { sendSliceBytes, slices } from '../../src/source/kafka-writer.ts';
import { RECORD_OVERHEAD_BYTES } from '../../src/source/oversize-policy.ts';

/** What a slice holds by the same count slices() keeps: key and value bytes plus 64 a record. */
function sliceBytes(slice: TopicMessages[]): number {
  return slice.reduce((sum, { messages }) => sum + messages.reduce((n, m) => n + (m.key?.length ?? 0) + (m.value?.length ?? 0) + 64, 0), 0);
}

describe('produce slices', () => {
  it('are 512 KiB under the default topic limit, and below a smaller TOPIC_MAX_MESSAGE_BYTES', () => {
    assert.equal(sendSliceBytes(8 * 1024 * 1024), 512 * 1024);
    assert.equal(sendSliceBytes(256 * 1024), 256 * 1024 - RECORD_OVERHEAD_BYTES);
  });

  it('keep every record, in order, each slice within the bound unless one record alone exceeds it', () => {
    const bound = sendSliceBytes(64 * 1024);
    const value = (bytes: number) => Buffer.alloc(bytes, 1);
    const topics: TopicMessages[] = [
      { topic: 'a', messages: Array.from({ length: 300 }, (_, i) => ({ key: Buffer.from(`a${i}`), value: value(500) })) },
      {
        topic: 'b',
        messages: [
          { key: Buffer.from('big'), value: value(100 * 1024) },
          { key: Buffer.from('b1'), value: value(10) },
        ],
      },
    ];
    const out = slices(topics, bound);
    assert.ok(out.length > 2, `${out.length} slices`);
    for (const slice of out) {
      const alone = slice.length === 1 && slice[0]!.messages.length === 1;
      assert.ok(alone || sliceBytes(slice) <= bound, `a slice of ${sliceBytes(slice)} bytes against ${bound}`);
    }
    const keys = out.flatMap((slice) => slice.flatMap(({ topic, messages }) => messages.map((m) => `${topic}:${String(m.key)}`)));
    assert.deepEqual(keys, [...topics[0]!.messages.map((m) => `a:${String(m.key)}`), 'b:big', 'b:b1']);
  });
});
