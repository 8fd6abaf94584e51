import { versionOf } from '../core/version.ts';
import type { METADATA_FIELDS } from '../config/sink.ts';
import type { DecodedChange } from './change-decoder.ts';

export type MetadataField = (typeof METADATA_FIELDS)[number];

/**
 * The change metadata a document carries besides its row image (DOCUMENT_METADATA), each under
 * the configured prefix so no column can clash with it. The position is the `file:pos#row` text
 * and the version the external version, both also usable to explain a document's state.
 */
export function metadataOf(change: DecodedChange, fields: readonly MetadataField[], prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) out[prefix + field] = metadataValue(change, field);
  return out;
}

function metadataValue(change: DecodedChange, field: MetadataField): unknown {
  switch (field) {
    case 'op':
      return change.op;
    case 'ts_ms':
      return change.tsMs;
    case 'position':
      return change.position.toString();
    case 'gtid':
      return change.gtid;
    case 'version':
      return versionOf(change.position);
    case 'key':
      return change.key;
  }
}

/** Explicit mappings of the metadata fields (the key object keeps its columns' dynamic types). */
export function metadataMappings(fields: readonly MetadataField[], prefix: string): Record<string, unknown> {
  const mappings: Record<MetadataField, unknown> = {
    op: { type: 'keyword' },
    ts_ms: { type: 'date', format: 'epoch_millis' },
    position: { type: 'keyword' },
    gtid: { type: 'keyword' },
    version: { type: 'long' },
    key: { type: 'object' },
  };
  return Object.fromEntries(fields.map((field) => [prefix + field, mappings[field]]));
}
