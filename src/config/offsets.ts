import { auditSpec } from './admin.ts';
import { commonSpec } from './common.ts';
import { kafkaSecuritySpec } from './security.ts';
import { envVar, type ConfigOf } from './env.ts';
import { text } from '../core/env-values.ts';
import { sinkSpec } from './sink.ts';

/** `cdc offsets`: Kafka, topic naming and the sink's group; the source id only to show its position. */
export const offsetsSpec = {
  LOG_LEVEL: commonSpec.LOG_LEVEL,
  KAFKA_BROKERS: commonSpec.KAFKA_BROKERS,
  KAFKA_CLIENT_ID: commonSpec.KAFKA_CLIENT_ID,
  ...kafkaSecuritySpec,
  TOPIC_PREFIX: commonSpec.TOPIC_PREFIX,
  SINK_GROUP_ID: sinkSpec.SINK_GROUP_ID,
  SINK_TOPICS: sinkSpec.SINK_TOPICS,
  SOURCE_ID: envVar(text().optional(), 'Source whose stored position `cdc offsets show` prints (optional there).'),
  ...auditSpec,
};

export type OffsetsConfig = ConfigOf<typeof offsetsSpec>;
