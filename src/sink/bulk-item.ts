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
  if (status === 429 || status >= 500) return 'retry';
  return 'reject';
}
