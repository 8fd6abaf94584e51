import type { Kafka } from 'kafkajs';
import { collectDefaultMetrics, Registry as MetricsRegistry } from 'prom-client';
import { createKafka } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import { Registry } from '../core/schema-registry.ts';
import type { ConfigOf } from '../config/env.ts';
import type { commonSpec } from '../config/common.ts';

/** What both file commands talk to: Kafka, the schema registry, and their own metrics registry. */
export function connectorClients(config: ConfigOf<typeof commonSpec>, log: Logger): { kafka: Kafka; registry: Registry; metrics: MetricsRegistry } {
  const metrics = new MetricsRegistry();
  collectDefaultMetrics({ register: metrics });
  return {
    kafka: createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID }, log),
    registry: new Registry({ url: config.SCHEMA_REGISTRY_URL, username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD }),
    metrics,
  };
}
