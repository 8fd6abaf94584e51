import { z } from 'zod';
import { envVar } from './env.ts';
import { int, list, text, url } from '../core/env-values.ts';
import { serviceHeapSpec } from './heap.ts';
import { kafkaSecuritySpec, registrySecuritySpec } from './security.ts';

const REGISTRY_URL_DOC = 'Base URL of the Confluent-compatible Schema Registry API (Confluent, Karapace, Apicurio `/apis/ccompat/v7`).';

/**
 * The source and the sink also run without a registry when every record is self-describing JSON
 * (VALUE_CONVERTER=json), as Kafka Connect's JsonConverter does; `when` says when it is needed.
 */
export function optionalRegistryUrl(when: string, extra: { requiredUnless?: { variable: string; value: string } } = {}) {
  return envVar(url().optional(), `${REGISTRY_URL_DOC} ${when}`, extra);
}

/** DLQ_TOPIC, the same topic for both services (what each writes there: `doc`). */
export function deadLetterTopicVar(doc: string) {
  return envVar(
    text()
      .regex(/^[A-Za-z0-9._-]+$/, 'must be a valid Kafka topic name')
      .optional(),
    doc,
    { default: '<TOPIC_PREFIX>.dlq' },
  );
}

/** TOPIC_MAX_MESSAGE_BYTES: `max.message.bytes` of the topics a service creates; Kafka's socket.request.max.bytes (100 MiB) bounds any record. */
export function maxMessageBytesVar(doc: string) {
  return envVar(int(4096, 100 * 1024 * 1024).default(8 * 1024 * 1024), doc, { default: '8388608' });
}

/** Variables every service reads: logging, HTTP, Kafka, the registry and topic naming. */
export const commonSpec = {
  LOG_LEVEL: envVar(z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'), 'pino log level.', { default: 'info' }),
  HTTP_HOST: envVar(text().default('0.0.0.0'), 'Address of the health/metrics/status HTTP server.', { default: '0.0.0.0' }),
  HTTP_PORT: envVar(int(0, 65535).default(8080), 'Port of the health/metrics/status HTTP server (0 picks a free port).', { default: '8080' }),
  STATUS_DETAIL: envVar(
    z.enum(['summary', 'full']).default('summary'),
    '`summary`: /status withholds raw key values (snapshot progress) and the text of errors, which can quote document fields (codes and hints stay); `full` shows them. URLs never show embedded credentials.',
    { default: 'summary' },
  ),
  ...serviceHeapSpec,
  READY_STALL_SECONDS: envVar(
    int(2, 86_400).default(60),
    '/readyz turns unready when the service has work but made no progress for this long (source: queued changes not committed, no snapshot chunk, or a binlog connection silent that long; the source asks the server for a heartbeat every third of it, at most every 30 s; sink: a batch not made durable, or bulk requests failing).',
    { default: '60' },
  ),
  KAFKA_BROKERS: envVar(list(), 'Comma-separated bootstrap brokers, `host:port`.'),
  KAFKA_CLIENT_ID: envVar(text().default('cdc'), 'Kafka client id (shows up in broker logs and quotas).', { default: 'cdc' }),
  ...kafkaSecuritySpec,
  SCHEMA_REGISTRY_URL: envVar(url(), REGISTRY_URL_DOC),
  ...registrySecuritySpec,
  TOPIC_PREFIX: envVar(
    text()
      .regex(/^[A-Za-z0-9_-]+$/, 'may contain only letters, digits, _ and -')
      .default('cdc'),
    'First part of every topic name: `<prefix>.<database>.<table>`, `<prefix>.offsets`.',
    { default: 'cdc' },
  ),
};
