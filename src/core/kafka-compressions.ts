/**
 * What KAFKA_COMPRESSION accepts: Kafka's own names for its record batch codecs. Apart from
 * kafka-codecs.ts so that reading the configuration does not load kafkajs (cli.ts reads it before
 * the service's module graph loads, and kafkajs must load after kafkajs-patches.ts).
 */
export const KAFKA_COMPRESSIONS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
export type KafkaCompression = (typeof KAFKA_COMPRESSIONS)[number];
