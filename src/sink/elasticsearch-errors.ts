import { errors } from '@elastic/elasticsearch';
import { CdcError, errorMessage } from '../core/errors.ts';
import { authError, certificateError } from '../core/tls.ts';

/**
 * Elasticsearch's failures, classified in one place by client error class, HTTP status and
 * Elasticsearch's error type (never by message text): whole requests here, bulk items below.
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

/**
 * The one classifier of failed Elasticsearch requests, by client error class and HTTP status:
 * unavailable or overloaded → ELASTICSEARCH_UNAVAILABLE (retriable); credentials or certificate →
 * AUTH_FAILED / TLS_CERT_INVALID (the sink stops); anything else → ELASTICSEARCH_REJECTED with `hint`.
 */
export function elasticsearchError(error: unknown, what: string, hint?: string): CdcError {
  if (error instanceof CdcError) return error;
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
 * - anything else (400 mapping/parse errors, …): retrying cannot help.
 */
export function classifyItem(status: number, isDelete: boolean): ItemOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 404 && isDelete) return 'ok';
  if (status === 409) return 'stale';
  if (isRetriableStatus(status)) return 'retry';
  return 'reject';
}
