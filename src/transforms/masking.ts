import { createHmac } from 'node:crypto';
import { isGeometry, storedGeometry, type ColumnDef, type ColumnValue, type Row } from '../core/change-event.ts';
import { matches } from './selection.ts';
import { columnTransform, keep, qualifiedName, transformError, type ColumnPlan, type Transform } from './transform.ts';

/** Column masking rules of the source (regular expressions over `database.table.column`). */
export interface MaskingRules {
  COLUMN_HASH?: RegExp[] | undefined;
  COLUMN_HASH_SALT?: string | undefined;
  COLUMN_MASK?: RegExp[] | undefined;
  COLUMN_MASK_VALUE: string;
  COLUMN_TRUNCATE?: RegExp[] | undefined;
  COLUMN_TRUNCATE_CHARS?: number | undefined;
}

/**
 * Replaces matching columns' values before they are encoded, with the Avro type following:
 * - hash: hex HMAC-SHA-256 keyed with COLUMN_HASH_SALT of the value (binary: its bytes; geometry: its stored SRID + WKB; anything
 *   else: its canonical text), a `string` column. Equal values hash equally, so a hashed column
 *   still joins and groups, and a hashed key still identifies its row;
 * - mask: COLUMN_MASK_VALUE in place of every non-null value, a `string` column;
 * - truncate: strings to their first COLUMN_TRUNCATE_CHARS characters (code points), binary to
 *   that many bytes; other kinds are left as they are.
 * A column matching several rules gets the first of hash, mask, truncate. Nulls stay null. Masking
 * or truncating a key column would merge distinct rows, so it is a coded error.
 */
export function columnMasking(rules: MaskingRules): Transform | undefined {
  if (!rules.COLUMN_HASH && !rules.COLUMN_MASK && !rules.COLUMN_TRUNCATE) return undefined;
  return columnTransform((schema) => {
    let changed = false;
    const columns = schema.columns.map((def): ColumnPlan => {
      const qualified = `${qualifiedName(schema)}.${def.name}`;
      const plan = planOf(def, qualified, rules);
      if (!plan) return keep(def);
      if (plan.kind !== 'hash' && schema.key.includes(def.name)) {
        throw transformError(
          `COLUMN_${plan.kind === 'mask' ? 'MASK' : 'TRUNCATE'} on ${qualified}`,
          'a key column cannot be masked or truncated (distinct rows would share one key)',
          'Hash the key column instead (COLUMN_HASH) or narrow the expression.',
        );
      }
      changed = true;
      return plan.column;
    });
    return changed ? { columns, key: schema.key } : null;
  });
}

function planOf(def: ColumnDef, qualified: string, rules: MaskingRules): { kind: 'hash' | 'mask' | 'truncate'; column: ColumnPlan } | undefined {
  const name = def.name;
  const asString: ColumnDef = { name, kind: 'string', sqlType: def.sqlType, optional: def.optional };
  if (matches(rules.COLUMN_HASH, qualified)) {
    const salt = rules.COLUMN_HASH_SALT ?? '';
    return { kind: 'hash', column: { def: asString, value: (row: Row) => hashed(row[name] ?? null, salt) } };
  }
  if (matches(rules.COLUMN_MASK, qualified)) {
    const mask = rules.COLUMN_MASK_VALUE;
    return { kind: 'mask', column: { def: asString, value: (row: Row) => (row[name] === null || row[name] === undefined ? null : mask) } };
  }
  if (matches(rules.COLUMN_TRUNCATE, qualified) && (def.kind === 'string' || def.kind === 'bytes')) {
    const chars = rules.COLUMN_TRUNCATE_CHARS ?? 0;
    return { kind: 'truncate', column: { def, value: (row: Row) => truncated(row[name] ?? null, chars) } };
  }
  return undefined;
}

function hashed(value: ColumnValue, salt: string): string | null {
  if (value === null) return null;
  return createHmac('sha256', salt)
    .update(Buffer.isBuffer(value) ? value : isGeometry(value) ? storedGeometry(value) : String(value))
    .digest('hex');
}

function truncated(value: ColumnValue, chars: number): ColumnValue {
  if (Buffer.isBuffer(value)) return value.length > chars ? value.subarray(0, chars) : value;
  if (typeof value !== 'string' || value.length <= chars) return value;
  // Code points, not UTF-16 units: a cut never splits a surrogate pair into invalid text.
  let out = '';
  let n = 0;
  for (const ch of value) {
    if (n++ === chars) break;
    out += ch;
  }
  return out;
}
