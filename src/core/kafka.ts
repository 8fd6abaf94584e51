// Before kafkajs loads: it replaces some of its internals on the per-record path (kafkajs-patches.ts).
import './kafkajs-patches.ts';
import { type Admin, Kafka, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import type { Logger } from './logger.ts';
import { CdcError, causeChain, errorMessage } from './errors.ts';
import { authError, certificateError, clientCertificateRefusal, tlsOptions } from './tls.ts';
// Registers the zstd, snappy and LZ4 codecs, so every Kafka client of ours can read every batch.
import './kafka-codecs.ts';

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl?: ConnectionOptions | undefined;
  sasl?: SASLOptions | undefined;
}

/** The Kafka variables every service shares (src/config/security.ts). */
export interface KafkaConfig {
  KAFKA_BROKERS: string[];
  KAFKA_CLIENT_ID: string;
  KAFKA_SECURITY_PROTOCOL: 'PLAINTEXT' | 'SSL' | 'SASL_PLAINTEXT' | 'SASL_SSL';
  KAFKA_SASL_MECHANISM?: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_SSL_CA_FILE?: string | undefined;
  KAFKA_SSL_CERT_FILE?: string | undefined;
  KAFKA_SSL_KEY_FILE?: string | undefined;
  KAFKA_SSL_INSECURE: boolean;
}

export function kafkaSettings(config: KafkaConfig): KafkaSettings {
  const protocol = config.KAFKA_SECURITY_PROTOCOL;
  const ssl = protocol.endsWith('SSL')
    ? tlsOptions({ caFile: config.KAFKA_SSL_CA_FILE, certFile: config.KAFKA_SSL_CERT_FILE, keyFile: config.KAFKA_SSL_KEY_FILE, insecure: config.KAFKA_SSL_INSECURE })
    : undefined;
  const mechanism = config.KAFKA_SASL_MECHANISM?.toLowerCase() as 'plain' | 'scram-sha-256' | 'scram-sha-512' | undefined;
  const sasl = protocol.startsWith('SASL_') && mechanism ? { mechanism, username: config.KAFKA_SASL_USERNAME ?? '', password: config.KAFKA_SASL_PASSWORD ?? '' } : undefined;
  return { brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, ssl, sasl };
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

/** A kafkajs client whose logs go to pino as warnings (its info level is very chatty, and see below for its errors). */
export function createKafka(settings: KafkaSettings, logger: Logger): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    ...(settings.ssl ? { ssl: settings.ssl } : {}),
    ...(settings.sasl ? { sasl: settings.sasl } : {}),
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      const line = { namespace: entry.namespace, ...extra };
      // Our transactional producer bounds its retries on purpose: a failed transaction is aborted and
      // the pipeline restarts from the stored position, so exactly-once holds regardless.
      if (message.startsWith('Limiting retries for the idempotent producer')) return log.debug(line, message);
      // kafkajs logs at ERROR what it retries itself (a refused connection, a moved leader) and what
      // it then hands to us; the service rides out the first and logs its own coded error for the
      // second (at error only when it gives up). So its lines are warnings, coded as an outage.
      log.warn({ ...line, code: 'KAFKA_UNAVAILABLE', kafkajsLevel: logLevel[entry.level] }, message);
    },
    retry: { initialRetryTime: 100, retries: 8 },
  });
}

/**
 * Kafka errors are classified here, by kafkajs' error classes, the protocol's error codes and
 * Node's errno codes, never by message text.
 */

/**
 * kafkajs errors that end a request although the cluster may answer again soon. kafkajs marks some
 * of them non-retriable (a lock or coordinator wait that timed out) because its own retrier is done
 * with them; the service's loop, which restarts from what is durable, is not.
 */
const TRANSIENT_CLASSES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
  'KafkaJSGroupCoordinatorNotFound',
  'KafkaJSTimeout',
  'KafkaJSLockTimeout',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
  'KafkaJSStaleTopicMetadataAssignment',
]);

/** Node's network errno codes, for a socket error that reaches us unwrapped. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

/**
 * Protocol errors that mean a newer producer owns our transactional id: INVALID_PRODUCER_EPOCH (47;
 * brokers answer the request versions kafkajs speaks with it where newer clients get PRODUCER_FENCED)
 * and TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53).
 */
const FENCING_CODES = new Set([47, 53]);

/** Fencing: a newer producer with our transactional id exists. */
export function isFencedError(error: unknown): boolean {
  return [...causeChain(error)].some((e) => e.name !== undefined && String(e.name).startsWith('KafkaJS') && typeof e.code === 'number' && FENCING_CODES.has(e.code));
}

/**
 * Answers that leave a transactional producer unusable, its transaction aborted or its outcome
 * unknown, where a new producer (a new epoch) resuming from the committed position is right either
 * way: UNKNOWN_SERVER_ERROR (-1; the broker failed the request without saying why, seen on the EndTxn
 * of a source being fenced), OUT_OF_ORDER_SEQUENCE_NUMBER (45) and DUPLICATE_SEQUENCE_NUMBER (46; a
 * produce request kafkajs retried after a timeout on a loaded broker), UNKNOWN_PRODUCER_ID (59).
 */
const PRODUCER_RESET_CODES = new Set([-1, 45, 46, 59]);

/** Whether the chain holds an answer of PRODUCER_RESET_CODES. */
export function needsNewProducer(error: unknown): boolean {
  return [...causeChain(error)].some((e) => e.name !== undefined && String(e.name).startsWith('KafkaJS') && typeof e.code === 'number' && PRODUCER_RESET_CODES.has(e.code));
}

const GENERATION_OVER = new Set(['REBALANCE_IN_PROGRESS', 'UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID']);

/**
 * The error, anywhere in a failure's cause chain, saying this member's group generation is over
 * (a rebalance moved its partitions while a batch was written): kafkajs rejoins when that error,
 * with its `type`, leaves eachBatch. A failed commit arrives wrapped twice (kafkajs' retrier makes
 * the protocol error the cause of a KafkaJSNonRetriableError, and kafkaError wraps that), so the
 * whole chain is searched.
 */
export function lostGeneration(error: unknown): Error | undefined {
  for (const e of causeChain(error)) if (GENERATION_OVER.has(String((e as { type?: unknown }).type ?? ''))) return e as Error;
  return undefined;
}

/** Whether the service's own loop may retry: some error of the chain is retriable or transient (kafkajs hands over what its retrier gave up on inside a non-retriable error). */
function isTransient(error: unknown): boolean {
  return [...causeChain(error)].some((e) => (e as { retriable?: unknown }).retriable === true || TRANSIENT_CLASSES.has(String(e.name)) || (typeof e.code === 'string' && NETWORK_CODES.has(e.code)));
}

export function kafkaError(error: unknown, what: string): CdcError {
  if (error instanceof CdcError) return error;
  const tls = certificateError(error, 'Kafka', 'KAFKA_SSL_CA_FILE') ?? clientCertificateRefusal(error, 'Kafka', 'KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE');
  if (tls) return tls;
  if ([...causeChain(error)].some((e) => e.name === 'KafkaJSSASLAuthenticationError')) return authError(error, 'Kafka', 'KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD');
  const retriable = isTransient(error);
  return new CdcError(retriable ? 'KAFKA_UNAVAILABLE' : 'KAFKA_ERROR', `Kafka ${what} failed: ${errorMessage(error)}`, {
    cause: error,
    retriable,
    hint: retriable ? 'Check KAFKA_BROKERS and that the brokers are up; the service retries.' : undefined,
  });
}

/**
 * `call`, with a rejection classified by kafkaError: for kafkajs calls made inside our own loops (a
 * heartbeat, a commit). An error that ends the group generation is the exception: it goes back as
 * it is, because kafkajs' runner rejoins the group on it by its `type` when it leaves eachBatch (a
 * coded error there crashes the consumer instead: the fault run saw a sink stop on a heartbeat's
 * REBALANCE_IN_PROGRESS).
 */
export async function kafkaCall<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw lostGeneration(error) ?? kafkaError(error, what);
  }
}

/** INVALID_REPLICATION_FACTOR: more replicas asked for than the brokers the controller counts as available. */
const INVALID_REPLICATION_FACTOR = 38;

/**
 * admin.createTopics, with a broker that just started told apart from a configuration error. Both
 * answer INVALID_REPLICATION_FACTOR (kafkajs gathers the topics' answers into an aggregate error,
 * and does not retry it): a broker not yet registered with the controller (measured: the first
 * answer after a restart), and a cluster with fewer brokers than the factor. So the brokers the
 * cluster lists decide: as many as the factor, the broker is still starting (a retriable
 * KAFKA_UNAVAILABLE; the fault-free kafka-restart suite saw a source stop on it); fewer, a
 * KAFKA_ERROR naming `setting`.
 */
export async function createTopics(admin: Admin, options: Parameters<Admin['createTopics']>[0], setting = 'TOPIC_REPLICATION_FACTOR'): Promise<boolean> {
  try {
    return await admin.createTopics(options);
  } catch (error) {
    const aggregate = [...causeChain(error)].find((e) => Array.isArray((e as { errors?: unknown }).errors)) as { errors: Array<{ code?: unknown }> } | undefined;
    const answers = (aggregate?.errors ?? []).map((e) => e.code);
    if (answers.length === 0 || !answers.every((code) => code === INVALID_REPLICATION_FACTOR)) throw error;
    const wanted = Math.max(1, ...options.topics.map((t) => t.replicationFactor ?? 1));
    const brokers = (await admin.describeCluster().catch(() => ({ brokers: [] }))).brokers.length;
    if (brokers >= wanted) {
      throw new CdcError(
        'KAFKA_UNAVAILABLE',
        `Kafka is not ready to create topics yet (INVALID_REPLICATION_FACTOR for ${wanted} replica(s) with ${brokers} broker(s) listed: a broker still starting)`,
        {
          retriable: true,
          cause: error,
          hint: 'Nothing to do if it passes; the service retries.',
        },
      );
    }
    throw new CdcError('KAFKA_ERROR', `Kafka has ${brokers} broker(s), fewer than the replication factor ${wanted} asked for new topics`, {
      cause: error,
      hint: `Lower ${setting} to at most the number of brokers, or add brokers.`,
    });
  }
}

/**
 * The cluster's topic names. kafkajs' listTopics destructures a null metadata answer (a TypeError)
 * when no broker answered: Kafka is away, not a programming error, so it is a retriable
 * KAFKA_UNAVAILABLE (the fault run saw both sinks exit on it during a broker restart).
 */
export async function listTopics(admin: Pick<Admin, 'listTopics'>): Promise<string[]> {
  try {
    return await admin.listTopics();
  } catch (error) {
    if (error instanceof TypeError) throw new CdcError('KAFKA_UNAVAILABLE', `Kafka listing topics failed: no broker answered (${error.message})`, { retriable: true, cause: error });
    throw error;
  }
}
