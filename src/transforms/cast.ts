import type { ColumnDef, ColumnKind, ColumnValue } from '../core/change-event.ts';
import { columnTransform, keep, qualifiedName, textOf, transformError, type ColumnPlan, type Transform } from './transform.ts';

export const CAST_TYPES = ['string', 'int32', 'int64', 'float32', 'float64', 'boolean'] as const;
export type CastType = (typeof CAST_TYPES)[number];

/**
 * Kafka Connect's Cast: changes columns to another primitive type, the Avro schema following.
 * Fractions are truncated toward zero on the way to an integer (as Connect does); a value that
 * is not a number where one is needed, or an integer out of range, is a coded error rather than
 * a silent null.
 */
export function cast(name: string, spec: Map<string, CastType>): Transform {
  return columnTransform((schema) => {
    if (!schema.columns.some((c) => spec.has(c.name))) return null;
    const columns = schema.columns.map((def): ColumnPlan => {
      const to = spec.get(def.name);
      if (to === undefined || to === def.kind) return keep(def);
      const from = def.name;
      const what = `transform ${name} on ${qualifiedName(schema)}.${from}`;
      const target: ColumnDef = { name: from, kind: to as ColumnKind, sqlType: def.sqlType, optional: def.optional };
      return { def: target, value: (row) => convert(row[from] ?? null, to, what) };
    });
    return { columns, key: schema.key };
  });
}

function convert(value: ColumnValue, to: CastType, what: string): ColumnValue {
  if (value === null) return null;
  if (to === 'string') return textOf(value);
  if (to === 'boolean') {
    if (typeof value === 'boolean') return value;
    const text = textOf(value).toLowerCase();
    if (text === 'true') return true;
    if (text === 'false') return false;
    return numberOf(value, what) !== 0;
  }
  if (to === 'float32' || to === 'float64') return numberOf(value, what);
  const integer = integerOf(value, what);
  if (to === 'int64') {
    if (integer < -(2n ** 63n) || integer >= 2n ** 63n) throw outOfRange(what, value, to);
    return integer;
  }
  if (integer < -(2n ** 31n) || integer >= 2n ** 31n) throw outOfRange(what, value, to);
  return Number(integer);
}

function numberOf(value: ColumnValue, what: string): number {
  if (typeof value === 'boolean') return value ? 1 : 0;
  const n = Number(typeof value === 'bigint' ? value : textOf(value));
  if (Number.isNaN(n)) throw transformError(what, `${JSON.stringify(textOf(value))} is not a number`, 'Cast only columns that hold numbers, or filter such rows out first.');
  return n;
}

function integerOf(value: ColumnValue, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'boolean') return value ? 1n : 0n;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw outOfRange(what, value, 'an integer');
    return BigInt(Math.trunc(value));
  }
  const text = textOf(value).trim();
  const match = /^([+-]?\d+)(\.\d*)?$/.exec(text);
  if (!match) return BigInt(Math.trunc(numberOf(value, what)));
  return BigInt(match[1]!);
}

function outOfRange(what: string, value: ColumnValue, to: string) {
  return transformError(what, `${textOf(value)} does not fit ${to}`, 'Cast to a wider type (int64, float64 or string).');
}
