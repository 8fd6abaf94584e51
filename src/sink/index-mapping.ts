import type { Type } from 'avsc';

type Mapping = Record<string, unknown>;

/**
 * Elasticsearch field mappings generated from the Avro row schema, so the index never depends on
 * dynamic guessing (a first value of "12.50" would otherwise map a DECIMAL as text). The document
 * keeps every value exactly in `_source`; the mapping decides how it is searched:
 * - DECIMAL and BIGINT UNSIGNED are indexed as `double` (range queries work, beyond 15–17
 *   significant digits they are approximate; `_source` stays exact). `scaled_float` would be
 *   closer but needs the mapper-extras module, which not every distribution ships.
 * - TIME is a `keyword` (`-838:59:59.000000` has no date meaning).
 * - JSON columns are stored unindexed (`enabled: false`): any JSON shape is accepted.
 */
export function mappingFor(fieldType: Type): Mapping {
  const type = unwrapNullable(fieldType);
  switch (type.typeName) {
    case 'int':
      return { type: 'integer' };
    case 'long':
    case 'abstract:long':
      return { type: 'long' };
    case 'float':
      return { type: 'float' };
    case 'double':
    case 'logical:decimal':
      return { type: 'double' };
    case 'boolean':
      return { type: 'boolean' };
    case 'string':
      return { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };
    case 'bytes':
    case 'fixed':
      return { type: 'binary' };
    case 'logical:date':
      return { type: 'date', format: 'strict_date' };
    case 'logical:local-timestamp-micros':
    case 'logical:timestamp-micros':
      return { type: 'date', format: 'strict_date_optional_time' };
    case 'logical:time-micros':
      return { type: 'keyword' };
    case 'logical:json':
      return { type: 'object', enabled: false };
    case 'record':
      return { properties: propertiesOf(type) };
    default:
      return { type: 'keyword' };
  }
}

export function propertiesOf(recordType: Type): Record<string, Mapping> {
  const fields = (recordType as unknown as { fields: Array<{ name: string; type: Type }> }).fields;
  return Object.fromEntries(fields.map((field) => [field.name, mappingFor(field.type)]));
}

function unwrapNullable(type: Type): Type {
  const branches = (type as unknown as { types?: Type[] }).types;
  if (!branches) return type;
  return branches.find((t) => t.typeName !== 'null') ?? type;
}

/** The row record inside a change envelope schema (the `after` field's non-null branch). */
export function rowTypeOfEnvelope(envelope: Type): Type | undefined {
  const fields = (envelope as unknown as { fields?: Array<{ name: string; type: Type }> }).fields;
  const after = fields?.find((f) => f.name === 'after');
  return after ? unwrapNullable(after.type) : undefined;
}
