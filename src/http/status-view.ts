import { redactUrlsDeep } from '../core/url-redaction.ts';

export type StatusDetail = 'summary' | 'full';

/** Replaces what /status leaves out unless STATUS_DETAIL=full. */
export const WITHHELD = '[withheld: STATUS_DETAIL=full shows it]';

/** Snapshot progress fields holding a row's raw key values (the last key read, the key a table stops at). */
const KEY_FIELDS = new Set(['lastKey', 'upTo']);
/** Fields of an error view (an object with a `code`) that can quote row data: a rejected document's reason, a key. */
const ERROR_DATA_FIELDS = new Set(['message', 'details', 'cause']);

/**
 * What /status shows of a service's status() object. Whatever the service returns, URLs lose
 * their embedded credentials; in `summary` (the default) raw key values and the text of errors
 * (which can quote document fields; the code and hint stay) are withheld too, since the status
 * page is usually reachable by anyone who can reach the metrics.
 */
export function statusView(status: unknown, detail: StatusDetail): unknown {
  const redacted = redactUrlsDeep(status, 16);
  return detail === 'full' ? redacted : withhold(redacted, 16);
}

function withhold(value: unknown, depth: number): unknown {
  if (depth === 0 || value === null || typeof value !== 'object' || typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  if (Array.isArray(value)) return value.map((item) => withhold(item, depth - 1));
  const isError = typeof (value as { code?: unknown }).code === 'string';
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [key, item !== undefined && item !== null && (KEY_FIELDS.has(key) || (isError && ERROR_DATA_FIELDS.has(key))) ? WITHHELD : withhold(item, depth - 1)]),
  );
}
