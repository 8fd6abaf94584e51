import type { Kafka } from 'kafkajs';
import { collectDefaultMetrics, Registry as MetricsRegistry } from 'prom-client';
import { createKafka, kafkaSettings } from '../core/kafka.ts';
import type { Logger } from '../core/logger.ts';
import { Registry, registrySettings } from '../core/schema-registry.ts';
import type { ConfigOf } from '../config/env.ts';
import type { commonSpec } from '../config/common.ts';

/** What both file commands talk to: Kafka, the schema registry, and their own metrics registry. */
export function connectorClients(config: ConfigOf<typeof commonSpec>, log: Logger): { kafka: Kafka; registry: Registry; metrics: MetricsRegistry } {
  const metrics = new MetricsRegistry();
  collectDefaultMetrics({ register: metrics });
  return {
    kafka: createKafka(kafkaSettings(config), log),
    registry: new Registry(registrySettings(config)),
    metrics,
  };
}
