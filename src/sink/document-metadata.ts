import type { ChangeEvent, Op } from '../core/change-event.ts';
import type { METADATA_FIELDS } from '../config/sink.ts';

export type MetadataField = (typeof METADATA_FIELDS)[number];

/**
 * The change metadata a document carries besides its row image (DOCUMENT_METADATA), each under
 * the configured prefix so no column can clash with it. The position is the `file:pos#row` text
 * and the version the external version, both also usable to explain a document's state. `op` is
 * the document's operation, which differs from the change's for the old row of a keyless update.
 */
export function metadataOf(event: ChangeEvent, op: Op, version: bigint, fields: readonly MetadataField[], prefix: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) out[prefix + field] = metadataValue(event, op, version, field);
  return out;
}

function metadataValue(event: ChangeEvent, op: Op, version: bigint, field: MetadataField): unknown {
  switch (field) {
    case 'op':
      return op;
    case 'ts_ms':
      return event.tsMs;
    case 'position':
      return event.position.toString();
    case 'gtid':
      return event.gtid ?? null;
    case 'version':
      return version;
    case 'key':
      return event.key ?? null;
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
