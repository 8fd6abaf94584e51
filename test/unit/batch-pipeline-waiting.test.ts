import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Batch } from 'kafkajs';
import { CdcError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/logger.ts';
import { BatchPipeline, type PartitionHandle, type PipelineParts } from '../../src/sink/batch-pipeline.ts';
import { createSinkMetrics } from '../../src/sink/sink-metrics.ts';
import { customerEvent, sinkRecordSettings } from '../helpers/change-events.ts';

/** A one-partition batch of `count` records (their content is the stand-in decoder's). */
function batchOf(count: number): Batch {
  const messages = Array.from({ length: count }, (_, i) => ({ offset: String(i), key: Buffer.from('k'), value: Buffer.from('v'), timestamp: String(Date.now()), attributes: 0, headers: {} }));
  return { topic: 'cdc.shop.customers', partition: 0, highWatermark: String(count), messages, lastOffset: () => String(count - 1) } as unknown as Batch;
}

/**
 * Readiness reads how long the oldest batch has waited to become durable. A batch keeps one entry
 * over its retries, and loses it once durable or given up: an entry left behind would report the
 * sink stalled for ever after one recovered failure.
 */
describe('the batch pipeline’s waiting batches', () => {
  let failures = 1;
  const parts = {
    decoder: { prepare: async () => undefined, decode: () => ({ ...customerEvent('u'), topic: 'cdc.shop.customers' }) },
    settings: sinkRecordSettings(),
    indices: { isReady: () => true, ensure: async () => undefined },
    writer: {
      write: async (actions: unknown[]) => {
        if (failures-- > 0) throw new CdcError('ELASTICSEARCH_UNAVAILABLE', 'injected', { retriable: true });
        return { ok: actions.length, stale: 0, retried: 0, rejected: [] };
      },
    },
    dlq: { send: async () => undefined, topic: 'dlq' },
    metrics: createSinkMetrics(),
    log: createLogger('silent', 'sink'),
    errorsTolerance: 'all',
    maxActions: 2,
    maxBytes: 1024 * 1024,
    bulksInFlight: 2,
    partitionConcurrency: 1,
    signal: new AbortController().signal,
  } as unknown as PipelineParts;
  const handle: PartitionHandle = { heartbeat: async () => undefined, active: () => true, stopping: new AbortController().signal, commit: async () => undefined, handBack: () => undefined };

  it('keeps one entry over a retry and none once durable', async () => {
    const pipeline = new BatchPipeline(parts);
    const batch = batchOf(5);
    const progress = { next: 0 };
    await assert.rejects(pipeline.process(batch, progress, handle), /injected/);
    const since = pipeline.oldestChunkSince;
    assert.ok(since !== undefined, 'a failed batch no longer counts as waiting');
    await pipeline.process(batch, progress, handle);
    assert.equal(progress.next, 5);
    assert.equal(pipeline.oldestChunkSince, undefined, 'a durable batch still counts as waiting');
  });

  it('forgets a batch given up', async () => {
    failures = 1;
    const pipeline = new BatchPipeline(parts);
    const progress = { next: 0 };
    await assert.rejects(pipeline.process(batchOf(3), progress, handle), /injected/);
    assert.ok(pipeline.oldestChunkSince !== undefined);
    pipeline.forget(progress);
    assert.equal(pipeline.oldestChunkSince, undefined);
  });
});
