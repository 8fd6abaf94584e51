/**
 * The error taxonomy. Every failure an operator can see carries a stable `code` (documented in
 * docs/errors.md, generated from ERROR_CODES), whether retrying can help (`retriable`), the
 * underlying `cause`, and a `hint` that says what to do. Programming errors (TypeError, …) are
 * never wrapped as retriable.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 'One or more environment variables are missing or malformed; every problem is listed.',
  SOURCE_PRECONDITION_FAILED:
    'The source server is not configured for row-based change capture, or refuses the source a privilege it needs (REPLICATION SLAVE to read the binlog); the message names the setting or grant and the fix.',
  SOURCE_UNREACHABLE: 'The MySQL/MariaDB server could not be reached or refused the connection.',
  SOURCE_POSITION_PURGED: 'The stored source position is no longer on the server (binlogs purged, or the binlog reset, restored or of another server).',
  SOURCE_POSITION_INVALID: 'The stored source position cannot be parsed.',
  SNAPSHOT_FAILED: 'A snapshot query failed for a reason retrying cannot fix (privileges, a dropped table); the snapshot resumes once fixed.',
  SOURCE_FENCED: 'Another source instance with the same SOURCE_ID took over; this one stopped without writing.',
  TRANSFORM_FAILED:
    'A column selection, masking rule or transform cannot apply to a table or value as configured (it would drop or blank a key column, a cast cannot convert a value, a route gives an invalid topic); the message names the transform, table and column. Nothing is written past it.',
  UNSUPPORTED_COLUMN_TYPE: 'A captured column has a type this version cannot convert exactly.',
  NAME_COLLISION:
    "Two tables map to one Kafka topic (source) or one Elasticsearch index (sink), or two columns map to one Avro field (source) or document field (sink), because the names differ only in case or in characters the name replaces. The message names both and the setting to change. The source stops; the sink holds the second table's partitions (index) or dead-letters its records (field) so that nothing of one table lands in the other's topic or index.",
  SCHEMA_INCOMPATIBLE:
    "The registry refused a new schema version under the subject's compatibility level. The source pauses at its last committed position (alive, unready) and retries every SCHEMA_RETRY_INTERVAL_MS until the operator relaxes the subject's level; see docs/schema-evolution.md.",
  REGISTRY_UNAVAILABLE: 'The schema registry could not be reached, throttled the request (429) or answered with a server error (5xx, Confluent error codes 50001-50003); retried.',
  REGISTRY_REJECTED:
    'The schema registry refused a request for a reason retrying cannot fix: an invalid schema (error code 42201), a subject in read-only mode (42205), or a schema id or subject it does not know (404); the message has its answer.',
  KAFKA_UNAVAILABLE: 'Kafka could not be reached or answered with a retriable error.',
  KAFKA_ERROR: 'Kafka answered with a non-retriable error.',
  KAFKA_TRANSACTION_UNRESOLVED:
    'A Kafka transaction (or, with EXACTLY_ONCE=false, a send) of the source failed with an answer that leaves its producer unusable and the outcome possibly unknown: UNKNOWN_SERVER_ERROR (seen when another instance with the same SOURCE_ID fenced this one during the commit), an out-of-order or duplicate sequence number (a produce request retried after a timeout on a loaded broker), or an unknown producer id. The source restarts with a new producer from the position Kafka holds as committed, which is right whether the transaction took effect or not; if another instance with the same SOURCE_ID is running, the restart fences it, and that one stops with SOURCE_FENCED.',
  ELASTICSEARCH_UNAVAILABLE: 'Elasticsearch could not be reached or is overloaded (429/5xx).',
  FIELD_NAME_INVALID:
    "A column name (after the sink's transforms) cannot be an Elasticsearch field name: empty, a metadata field such as `_id`, a dotted path with an empty part, or a value where another column's dotted name needs an object; the message names the table and column.",
  ELASTICSEARCH_REJECTED: 'Elasticsearch rejected a document for a reason retrying cannot fix.',
  RECORD_TOO_LARGE:
    'A change is larger than its Kafka topic takes (source: TOPIC_MAX_MESSAGE_BYTES, checked before producing) or its document larger than one bulk request may be (sink: ELASTICSEARCH_MAX_REQUEST_BYTES); the message names the table, key, size, limit and settings. The source stops with it (OVERSIZE_RECORDS=fail; a restart stops again until the limit is raised) or writes a dead letter without the row (dead-letter); the sink dead-letters the record (ERRORS_TOLERANCE=all) or stops.',
  ELASTICSEARCH_CLUSTER_LIMIT:
    'Elasticsearch refused to create an index because the cluster is at its shard limit (`cluster.max_shards_per_node` × data nodes). Nothing is dead-lettered: the sink holds the affected partitions (not committing), shows this code on /readyz and /status, and resumes once the limit is raised or shards are freed.',
  ELASTICSEARCH_BLOCKED:
    'Elasticsearch refused a write because of an index or cluster block, typically `index.blocks.read_only_allow_delete` after the disk flood stage (`cluster.routing.allocation.disk.watermark.flood_stage`). Nothing is dead-lettered: the sink holds the affected partitions, shows this code on /readyz and /status, and resumes once the block is lifted.',
  DECODE_FAILED: 'A Kafka record is not a valid Confluent-framed Avro record for a known schema.',
  ARCHIVE_INVALID: 'A line of a file-connector archive is not what `cdc file-sink` writes; the message names the file and line.',
  ARCHIVE_TOPIC_REFUSED:
    "An archive line names a topic outside the archive's own layout (its `<topic>/` directory), or an internal topic (offsets, heartbeats, dead letters, Kafka's own) that FILE_SOURCE_TOPIC_MAP does not map explicitly; nothing was written.",
  VERSION_OUT_OF_RANGE: 'A source position or binlog epoch does not fit the 63-bit external version encoding (README, Versions).',
  ARGUMENT_INVALID: 'A command-line argument is malformed; the message says what is accepted.',
  GROUP_ACTIVE: 'The consumer group still has running members; stop every sink of the group before resetting its offsets.',
  TLS_CERT_INVALID: "A service's TLS certificate failed verification (unknown CA, expired, wrong host); the message names the service and the setting.",
  AUTH_FAILED:
    'A service refused the configured credentials; the message names the service and the settings. At start the service stops; a privilege Elasticsearch refuses later (403) holds the affected partitions of the sink, shown on /readyz and /status, until it is granted.',
  ADMIN_UNAUTHENTICATED: 'An admin API call came without a bearer token (HTTP 401).',
  ADMIN_FORBIDDEN: 'An admin API call presented a token that is not in ADMIN_TOKENS (HTTP 403).',
  ADMIN_RATE_LIMITED: 'This client had too many refused admin API calls in the last minute (ADMIN_REFUSED_PER_MINUTE); it is refused without checking its token until the minute is over (HTTP 429).',
  ADMIN_NOT_FOUND: 'No admin action answers this method and path; GET /admin/actions lists them (HTTP 404).',
  ACTION_NOT_APPLICABLE: "The admin action does not apply in the service's current state, e.g. restarting a component that has not failed (HTTP 409).",
  AUDIT_UNAVAILABLE: 'The audit log could not be written, so the action was not performed (fail closed).',
  INTERNAL: 'An unexpected internal error (a bug): please report it with the log line.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface CdcErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  hint?: string;
  /** Structured context for logs (never secrets). */
  details?: Record<string, unknown>;
}

export class CdcError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: CdcErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CdcError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.hint = options.hint;
    this.details = options.details;
  }

  /** One line for an operator: code, message and what to do. */
  describe(): string {
    return `${this.code}: ${this.message}${this.hint ? ` — ${this.hint}` : ''}`;
  }
}

export function isRetriable(error: unknown): boolean {
  if (error instanceof CdcError) return error.retriable;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) return false;
  return Boolean(error && typeof error === 'object' && 'retriable' in error && (error as { retriable: unknown }).retriable);
}

/**
 * Codes that describe the service's own settings or credentials, never one record: a record that
 * meets one is not dead-lettered (every record after it would be too); the service stops instead.
 */
const SERVICE_CODES: ReadonlySet<ErrorCode> = new Set(['CONFIG_INVALID', 'AUTH_FAILED', 'TLS_CERT_INVALID']);

export function isServiceError(error: CdcError): boolean {
  return SERVICE_CODES.has(error.code);
}

/** Wrap anything thrown into a CdcError, keeping an existing code. */
export function toCdcError(error: unknown, code: ErrorCode, message: string, options: CdcErrorOptions = {}): CdcError {
  if (error instanceof CdcError) return error;
  return new CdcError(code, `${message}: ${errorMessage(error)}`, { retriable: isRetriable(error), ...options, cause: error });
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}

/** An error and its causes, outermost first (bounded: a cause chain can be cyclic). */
export function* causeChain(error: unknown): Generator<{ name?: unknown; code?: unknown; message?: unknown }> {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; e = (e as { cause?: unknown }).cause, depth++) {
    yield e as { name?: unknown; code?: unknown; message?: unknown };
  }
}
