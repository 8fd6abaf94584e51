import type { TableSchema } from '../core/change-event.ts';
import { CdcError } from '../core/errors.ts';

/** Elasticsearch's metadata fields: a document holding one is refused ("is a metadata field"). */
const METADATA_FIELDS = new Set([
  '_id',
  '_index',
  '_source',
  '_routing',
  '_version',
  '_seq_no',
  '_primary_term',
  '_field_names',
  '_ignored',
  '_ignored_source',
  '_meta',
  '_tier',
  '_doc_count',
  '_data_stream_timestamp',
  '_size',
  '_type',
  '_nested_path',
  '_feature',
  '_inference_fields',
]);

/** Per (transformed) schema, once: the refusal of its first unusable column name, or null. */
const checked = new WeakMap<TableSchema, CdcError | null>();

/**
 * Throws FIELD_NAME_INVALID when a column of `schema` (as the sink's transforms left it) cannot be
 * a field of an Elasticsearch document: empty, a metadata field, a dotted path with an empty part
 * (`.`, `a.`, `a..b`), or a name that a dotted name of another column makes an object (`a` and
 * `a.b`). A dotted name is kept as it is: `_source` holds the flat key `a.b`, and Elasticsearch
 * maps it as the path `a` → `b`, so queries on `a.b` find it.
 */
export function checkFieldNames(schema: TableSchema): void {
  let refusal = checked.get(schema);
  if (refusal === undefined) {
    refusal = refusalOf(schema);
    checked.set(schema, refusal);
  }
  if (refusal) throw refusal;
}

function refusalOf(schema: TableSchema): CdcError | null {
  const names = new Set(schema.columns.map((c) => c.name));
  for (const name of names) {
    const why = problemOf(name, names);
    if (!why) continue;
    const table = `${schema.database}.${schema.table}`;
    return new CdcError('FIELD_NAME_INVALID', `Column ${JSON.stringify(name)} of ${table} cannot be an Elasticsearch field name: ${why}`, {
      hint: `Give it another name on the sink with a rename transform (TRANSFORMS=fix, TRANSFORMS_FIX_TYPE=rename, TRANSFORMS_FIX_RENAMES=${name}:new_name), or leave it out with a drop transform, then restart the sink.`,
      details: { table, column: name },
    });
  }
  return null;
}

function problemOf(name: string, names: ReadonlySet<string>): string | undefined {
  if (name.trim() === '') return 'it is empty';
  if (METADATA_FIELDS.has(name)) return 'it is one of its metadata fields';
  if (name.split('.').some((part) => part === '')) return 'a dot in a field name separates object names, and one of them would be empty';
  for (let at = name.indexOf('.'); at > 0; at = name.indexOf('.', at + 1)) {
    const parent = name.slice(0, at);
    if (names.has(parent)) return `the column ${JSON.stringify(parent)} holds a value where this dotted name needs an object`;
  }
  return undefined;
}
