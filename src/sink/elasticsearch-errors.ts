import { errors } from '@elastic/elasticsearch';
import { CdcError, errorMessage } from '../core/errors.ts';
import { authError, certificateError } from '../core/tls.ts';

/**
 * Elasticsearch's failures, classified in one place by client error class, HTTP status and
 * Elasticsearch's error type (message text only to tell the shard limit from other
 * `validation_exception`s): whole requests here, bulk items below.
 */

/** AUTH_FAILED (401/403) or TLS_CERT_INVALID when that is why an Elasticsearch request failed. */
export function elasticsearchSecurityError(error: unknown): CdcError | undefined {
  const status = (error as { meta?: { statusCode?: number } }).meta?.statusCode;
  if (status === 401 || status === 403) {
    return authError(error, 'Elasticsearch', "ELASTICSEARCH_USERNAME and ELASTICSEARCH_PASSWORD, or ELASTICSEARCH_API_KEY (and the user's privileges)");
  }
  return certificateError(error, 'Elasticsearch', 'ELASTICSEARCH_SSL_CA_FILE');
}

/** Unreachable, timed out, overloaded (429) or failing (5xx): worth retrying with backoff. */
export function isRetriableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

function isUnavailable(error: unknown): boolean {
  if (error instanceof errors.ConnectionError || error instanceof errors.TimeoutError || error instanceof errors.NoLivingConnectionsError) return true;
  return error instanceof errors.ResponseError && isRetriableStatus(error.statusCode ?? 0);
}

/** Elasticsearch's error type and reason of a refused request (`resource_already_exists_exception`, …). */
export function elasticsearchRefusal(error: unknown): { type?: string; reason?: string } {
  if (!(error instanceof errors.ResponseError)) return {};
  return (error.body as { error?: { type?: string; reason?: string } } | undefined)?.error ?? {};
}

/** Told apart from other `validation_exception`s (about the request itself) by the reason's count of open shards. */
const SHARD_LIMIT_REASON = /\bmaximum (?:normal |frozen )?shards open\b/;

const HELD = ' The sink holds the affected partitions (no commit, no dead letter) and resumes by itself.';

/**
 * A refusal caused by the cluster's state or the user's privileges, not by the record, so no
 * record is dead-lettered for it: the cluster is at its shard limit (`validation_exception`
 * whose reason counts open shards, raised when creating an index), a block refuses writes
 * (`cluster_block_exception`, e.g. read-only-allow-delete after the disk flood stage), or the
 * user lacks a privilege on the index (403 `security_exception`; a 401 is wrong credentials and
 * stops the sink). Retriable: the work waits until the operator lifts the condition.
 */
export function heldConditionError(refusal: { type?: string | null | undefined; reason?: string | null | undefined }, status: number | undefined, what: string, cause?: unknown): CdcError | undefined {
  const reason = refusal.reason ?? '';
  if (refusal.type === 'validation_exception' && SHARD_LIMIT_REASON.test(reason)) {
    return new CdcError('ELASTICSEARCH_CLUSTER_LIMIT', `${what} was refused: the cluster is at its shard limit (cluster.max_shards_per_node): ${reason}`, {
      cause,
      retriable: true,
      details: { setting: 'cluster.max_shards_per_node' },
      hint: `Raise cluster.max_shards_per_node (PUT _cluster/settings), add data nodes, or delete or shrink indices (fewer replicas: INDEX_REPLICAS).${HELD}`,
    });
  }
  if (refusal.type === 'cluster_block_exception') {
    return new CdcError('ELASTICSEARCH_BLOCKED', `${what} was refused by a block: ${reason}`, {
      cause,
      retriable: true,
      details: { setting: 'index.blocks.read_only_allow_delete, index.blocks.write, cluster.blocks.read_only' },
      hint: `Past the disk flood stage (cluster.routing.allocation.disk.watermark.flood_stage) Elasticsearch blocks writes: free disk space (the block lifts once usage falls below the high watermark) or reset the block setting (index.blocks.read_only_allow_delete, index.blocks.write or cluster.blocks.read_only) to null.${HELD}`,
    });
  }
  if (refusal.type === 'security_exception' && status === 403) {
    return new CdcError('AUTH_FAILED', `${what} was refused: the Elasticsearch user lacks a privilege: ${reason}`, {
      cause,
      retriable: true,
      details: { service: 'Elasticsearch', setting: 'the privileges of ELASTICSEARCH_USERNAME or ELASTICSEARCH_API_KEY' },
      hint: `Grant the user the privilege of the action named in the reason on the sink's indices.${HELD}`,
    });
  }
  return undefined;
}

/** The numbers of an indexing-pressure refusal: `…, primary_operation_bytes=113246252, max_primary_bytes=53687091]`. */
const PRESSURE_REASON = /\b(?:coordinating|primary|replica)_operation_bytes=(\d+), max_\w+_bytes=(\d+)/;

/**
 * An item refused by indexing pressure (429 `es_rejected_execution_exception`) because it alone
 * needs more than the node's whole budget (`indexing_pressure.memory.limit`, 10 % of the heap; a
 * document counts several times its size): no retry can pass it, unlike the usual transient
 * overload, which gives the same type. The reason's numbers are the only thing that tells them apart.
 */
export function exceedsIndexingPressure(type: string | null | undefined, reason: string | null | undefined): { bytes: number; max: number } | undefined {
  if (type !== 'es_rejected_execution_exception') return undefined;
  const match = PRESSURE_REASON.exec(reason ?? '');
  if (!match) return undefined;
  const [bytes, max] = [Number(match[1]), Number(match[2])];
  return bytes > max ? { bytes, max } : undefined;
}

const HELD_CODES: ReadonlySet<string> = new Set(['ELASTICSEARCH_CLUSTER_LIMIT', 'ELASTICSEARCH_BLOCKED', 'AUTH_FAILED', 'NAME_COLLISION']);

/** Whether `error` is a condition the sink waits out (readiness says so at once, not after READY_STALL_SECONDS). */
export function isHeldCondition(error: CdcError | undefined): boolean {
  return error?.retriable === true && HELD_CODES.has(error.code);
}

/**
 * The one classifier of failed Elasticsearch requests, by Elasticsearch's error type, client
 * error class and HTTP status: shard limit, write block or missing privilege →
 * ELASTICSEARCH_CLUSTER_LIMIT / ELASTICSEARCH_BLOCKED / AUTH_FAILED (retriable); unavailable or overloaded → ELASTICSEARCH_UNAVAILABLE
 * (retriable); credentials (401) or certificate → AUTH_FAILED / TLS_CERT_INVALID (the sink stops);
 * anything else → ELASTICSEARCH_REJECTED with `hint`.
 */
export function elasticsearchError(error: unknown, what: string, hint?: string): CdcError {
  if (error instanceof CdcError) return error;
  const condition = heldConditionError(elasticsearchRefusal(error), (error as { meta?: { statusCode?: number } }).meta?.statusCode, what, error);
  if (condition) return condition;
  if (isUnavailable(error)) return new CdcError('ELASTICSEARCH_UNAVAILABLE', `${what} failed: ${errorMessage(error)}`, { cause: error, retriable: true });
  return elasticsearchSecurityError(error) ?? new CdcError('ELASTICSEARCH_REJECTED', `${what} was refused: ${errorMessage(error)}`, { cause: error, ...(hint ? { hint } : {}) });
}

/** What a bulk item's answer means for the change it carried. */
export type ItemOutcome = 'ok' | 'stale' | 'retry' | 'reject';

/**
 * Per-item classification of a bulk answer:
 * - 2xx: applied; 404 on a delete: nothing to delete, but the delete's version is recorded;
 * - 409: a newer or equal version is already indexed, so this change's effect is already there;
 * - 429, 5xx: Elasticsearch is overloaded or recovering: retry the item, never drop it;
 * - a block (`cluster_block_exception`, 403 or 429) or a missing privilege (403 `security_exception`):
 *   about the cluster or the user, not this record: retry until the operator fixes it;
 * - anything else (400 mapping/parse errors, …): retrying cannot help.
 */
export function classifyItem(status: number, isDelete: boolean, errorType?: string): ItemOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 404 && isDelete) return 'ok';
  if (status === 409) return 'stale';
  if (isRetriableStatus(status) || errorType === 'cluster_block_exception' || (status === 403 && errorType === 'security_exception')) return 'retry';
  return 'reject';
}
