import type { ChangeEvent, ColumnDef, ColumnValue } from '../core/change-event.ts';
import { columnTransform, keep, type ColumnPlan, type Transform } from './transform.ts';

export const UNWRAP_FIELDS = ['op', 'db', 'table', 'source_ts_ms', 'position', 'gtid'] as const;
export type UnwrapField = (typeof UNWRAP_FIELDS)[number];

export interface UnwrapOptions {
  fields: UnwrapField[];
  deletes: 'rewrite' | 'drop';
  prefix: string;
}

const METADATA: Record<UnwrapField, { kind: ColumnDef['kind']; value: (event: ChangeEvent) => ColumnValue }> = {
  op: { kind: 'string', value: (event) => event.op },
  db: { kind: 'string', value: (event) => event.schema.database },
  table: { kind: 'string', value: (event) => event.schema.table },
  source_ts_ms: { kind: 'int64', value: (event) => BigInt(event.tsMs) },
  position: { kind: 'string', value: (event) => event.position.toString() },
  gtid: { kind: 'string', value: (event) => event.gtid ?? null },
};

/**
 * Source only, Debezium's ExtractNewRecordState: the record's value becomes the row image alone
 * (a flat Avro record) plus the chosen change metadata under `prefix` (`__op`, `__source_ts_ms`…),
 * for consumers that want rows rather than envelopes (JDBC sinks, stream processors). A delete is
 * either rewritten as its last image with `<prefix>deleted: true` (every record then carries
 * `<prefix>deleted`) or dropped. This sink indexes envelopes: point it at other topics.
 */
export function unwrap(options: UnwrapOptions): Transform {
  const { fields, deletes, prefix } = options;
  const metadata: ColumnPlan[] = fields.map((field) => {
    const { kind, value } = METADATA[field];
    return { def: { name: prefix + field, kind, sqlType: 'change metadata', optional: true }, value: (_row, event) => value(event) };
  });
  if (deletes === 'rewrite') metadata.push({ def: { name: `${prefix}deleted`, kind: 'boolean', sqlType: 'change metadata', optional: true }, value: (_row, event) => event.op === 'd' });
  const addMetadata = columnTransform((schema) => ({ columns: [...schema.columns.map(keep), ...metadata], key: schema.key }));
  return (event) => {
    if (event.op === 'd' && deletes === 'drop') return null;
    const out = addMetadata(event)!;
    return { ...out, after: out.op === 'd' ? out.before : out.after, flat: true };
  };
}
