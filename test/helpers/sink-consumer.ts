import type { Kafka } from 'kafkajs';
import type { CdcError } from '../../src/core/errors.ts';
import { createLogger } from '../../src/core/logger.ts';
import type { BatchPipeline } from '../../src/sink/batch-pipeline.ts';
import { SinkConsumer } from '../../src/sink/sink-consumer.ts';
import { createSinkMetrics } from '../../src/sink/sink-metrics.ts';

/**
 * A sink consumer of the topics `<prefix>.*` (group `<prefix>.sink`, one partition at a time,
 * 1 MiB fetches) around a stand-in pipeline (`process`; nothing to reset or forget): for tests of
 * the consumer's lifecycle alone.
 */
export function standInConsumer(kafka: Kafka, pipeline: Pick<BatchPipeline, 'process'>, prefix: string, stop: AbortSignal, onError: (error: CdcError) => void = () => undefined): SinkConsumer {
  return new SinkConsumer(
    kafka,
    { reset() {}, forget() {}, process: pipeline.process.bind(pipeline) } as unknown as BatchPipeline,
    {
      groupId: `${prefix}.sink`,
      sessionTimeoutMs: 10_000,
      topicPatterns: [new RegExp(`^${prefix}\\.`)],
      partitionConcurrency: 1,
      fetchMaxBytes: 1024 * 1024,
      retryWarnMs: 30_000,
      pickupMaxDelayMs: 0,
    },
    createSinkMetrics(),
    createLogger('silent', 'sink'),
    stop,
    onError,
  );
}
