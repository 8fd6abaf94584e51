import { createHash } from 'node:crypto';
import { JsonText } from '../core/avro-types.ts';
import { exactJson } from '../core/exact-json.ts';

/**
 * Serializes a decoded row as the JSON text of an Elasticsearch document, exactly (see exactJson:
 * BigInt longs and JSON columns' stored text, so no number is rounded on the way into the index).
 */
export function documentJson(row: Record<string, unknown>): string {
  return exactJson(row);
}

/** Elasticsearch limits `_id` to 512 bytes. */
const MAX_ID_BYTES = 512;

/**
 * The document id of a row key, stable across replays and re-snapshots: a single-column key is
 * its value as text (numbers in decimal, binary as base64); a composite key is the JSON array of
 * those texts, so `(1,"2,3")` and `(1,2,3)` can never collide. Ids over 512 bytes are replaced by
 * `sha256:<hex>` of the same text.
 */
export function documentId(key: Record<string, unknown>): string {
  const parts = Object.values(key).map(keyPart);
  const id = parts.length === 1 ? parts[0]! : JSON.stringify(parts);
  return Buffer.byteLength(id) <= MAX_ID_BYTES ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/**
 * The document id of a row of a keyless table: a hash of its non-null columns in name order, so
 * equal rows share one document and a nullable column added later does not change old ids.
 */
export function rowDocumentId(row: Record<string, unknown>): string {
  const present = Object.entries(row)
    .filter(([, value]) => value !== null && value !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `row:${createHash('sha256').update(documentJson(Object.fromEntries(present))).digest('hex')}`;
}

function keyPart(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (value instanceof JsonText) return value.text;
  return String(value);
}
