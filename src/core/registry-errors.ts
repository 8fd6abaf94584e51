import { CdcError, errorMessage } from './errors.ts';
import { authError, certificateError } from './tls.ts';

/**
 * Schema registry errors, classified by HTTP status and the Confluent API's `error_code` (which
 * Confluent, Karapace and Apicurio's ccompat API share), never by message text. A failed request
 * (core/schema-registry.ts) carries both as `status` and `errorCode`; one that got no answer has neither.
 */

/** Confluent error codes this service acts on (docs: Schema Registry API reference, "Errors"). */
const INCOMPATIBLE = 409;
const INVALID_SCHEMA = 42201;
/** The subject or registry is in READONLY / IMPORT mode. */
const OPERATION_NOT_PERMITTED = 42205;
/** The leader could not be reached, the store timed out or failed: the registry recovers by itself. */
const BACKEND_ERRORS = new Set([50001, 50002, 50003]);

type RegistryErrorFields = { status?: unknown; errorCode?: unknown };

export type RegistryFailure = 'incompatible' | 'rejected' | 'credentials' | 'not-found' | 'unavailable';

export function registryFailure(error: unknown): RegistryFailure {
  const { status, errorCode } = (error ?? {}) as RegistryErrorFields;
  if (status === 409 || errorCode === INCOMPATIBLE) return 'incompatible';
  if (status === 401 || status === 403) return 'credentials';
  if (typeof errorCode === 'number' && BACKEND_ERRORS.has(errorCode)) return 'unavailable';
  if (errorCode === INVALID_SCHEMA || errorCode === OPERATION_NOT_PERMITTED || status === 422) return 'rejected';
  if (status === 404) return 'not-found';
  // No answer at all (refused, reset, timed out), throttled, or a server error.
  if (status === undefined || status === 429 || (typeof status === 'number' && status >= 500)) return 'unavailable';
  return 'rejected';
}

/** TLS_CERT_INVALID or AUTH_FAILED when that is why a registry request failed. */
export function registrySecurityError(error: unknown): CdcError | undefined {
  if (registryFailure(error) === 'credentials') return authError(error, 'The schema registry', 'SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD');
  return certificateError(error, 'The schema registry', 'SCHEMA_REGISTRY_SSL_CA_FILE');
}

/**
 * An incompatible schema pauses the source (never retried blindly); an unreachable, throttled or
 * failing registry is retriable; a request it refuses for good (an invalid schema, a read-only
 * subject, an id it does not know) is not.
 */
export function registryError(error: unknown, what: string): CdcError {
  if (error instanceof CdcError) return error;
  const message = errorMessage(error);
  const failure = registryFailure(error);
  if (failure === 'incompatible') {
    return new CdcError('SCHEMA_INCOMPATIBLE', `The schema registry refused the new schema of ${what}: ${message}`, {
      cause: error,
      hint: 'The table changed in a way the subject\'s compatibility level forbids. The source holds its position and retries (SCHEMA_RETRY_INTERVAL_MS): relax the level of this subject (PUT /config/<subject> {"compatibility":"NONE"}), or revert the change; see docs/schema-evolution.md.',
    });
  }
  const security = registrySecurityError(error);
  if (security) return security;
  if (failure === 'unavailable') {
    return new CdcError('REGISTRY_UNAVAILABLE', `Schema registry request for ${what} failed: ${message}`, {
      cause: error,
      retriable: true,
      hint: 'Check SCHEMA_REGISTRY_URL and that the registry is up; the service retries.',
    });
  }
  return new CdcError('REGISTRY_REJECTED', `The schema registry refused the request for ${what}: ${message}`, {
    cause: error,
    hint:
      failure === 'not-found'
        ? 'The registry does not know this schema or subject: records written against another registry (or a deleted subject) cannot be decoded here.'
        : 'The registry refused the request for good (an invalid schema, or a subject in read-only mode); the message has its error_code.',
  });
}
