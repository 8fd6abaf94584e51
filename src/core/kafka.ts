import { Kafka, logLevel, type LogEntry } from 'kafkajs';
import type { Logger } from './logger.ts';
import { CdcError, errorMessage } from './errors.ts';
// Registers the zstd, snappy and LZ4 codecs, so every Kafka client of ours can read every batch.
import './kafka-codecs.ts';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
}

// kafkajs' request queue schedules negative timeouts on Node 24; the warning is harmless and
// would otherwise be printed once per process start. Node prints warnings through a listener of
// its own, replaced here by one that skips just that warning.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.name !== 'TimeoutNegativeWarning') console.warn(`${warning.name}: ${warning.message}`);
});

// kafkajs 2 warns at every producer creation that its default partitioner changed in 2.0; ours
// is the Java-compatible default on purpose.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/** A kafkajs client whose logs go to pino (at warn and above: its info level is very chatty). */
export function createKafka(settings: KafkaSettings, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      const line = { namespace: entry.namespace, ...extra };
      // Our transactional producer bounds its retries on purpose: a failed transaction is aborted and
      // the pipeline restarts from the stored position, so exactly-once holds regardless.
      if (message.startsWith('Limiting retries for the idempotent producer')) return log.debug(line, message);
      if (entry.level <= logLevel.ERROR) log.error(line, message);
      else log.warn(line, message);
    },
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/** Fencing: a newer producer with our transactional id exists. */
export function isFencedError(error: unknown): boolean {
  const type = (error as { type?: string }).type ?? '';
  return /INVALID_PRODUCER_EPOCH|PRODUCER_FENCED|TRANSACTIONAL_ID_AUTHORIZATION/.test(type) || /fenced|producer epoch/i.test(errorMessage(error));
}

export function kafkaError(error: unknown, what: string): CdcError {
  if (error instanceof CdcError) return error;
  const retriable = Boolean((error as { retriable?: boolean }).retriable) || /ECONNREFUSED|Connection|timeout|not available|leader/i.test(errorMessage(error));
  return new CdcError(retriable ? 'KAFKA_UNAVAILABLE' : 'KAFKA_ERROR', `Kafka ${what} failed: ${errorMessage(error)}`, {
    cause: error,
    retriable,
    hint: retriable ? 'Check KAFKA_BROKERS and that the brokers are up; the service retries.' : undefined,
  });
}
