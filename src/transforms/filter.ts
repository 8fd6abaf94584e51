import { RE2JS } from 're2js';
import type { ChangeEvent, ColumnKind, ColumnValue, Op } from '../core/change-event.ts';
import { textOf, type Transform } from './transform.ts';

export const FILTER_OPERATORS = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'in', 'not_in', 'matches', 'is_null', 'not_null'] as const;
export type FilterOperator = (typeof FILTER_OPERATORS)[number];

export interface FilterOptions {
  ops?: Op[] | undefined;
  field?: string | undefined;
  operator: FilterOperator;
  value?: string | undefined;
  mode: 'include' | 'exclude';
}

const NUMERIC = new Set<ColumnKind>(['int32', 'int64', 'decimal', 'float32', 'float64']);

/**
 * A `matches` pattern, compiled for RE2 (re2js) rather than JavaScript's backtracking engine: the
 * pattern comes from the operator but runs over row values of any size, and a backtracking engine
 * can take exponential time on a pattern like `(a+)+b` (one such row stalls the whole source).
 * RE2 matches in time linear in the value's length whatever the pattern; it has no
 * backreferences or lookaround, so such patterns are refused at configuration time.
 * Returns the compiled pattern, or why the text is refused.
 */
export function filterPattern(value: string): RE2JS | string {
  try {
    return RE2JS.compile(value);
  } catch (error) {
    return `${JSON.stringify(value)} is not a pattern the filter accepts (RE2 syntax, without backreferences or lookaround, so that matching takes time linear in the value): ${(error as Error).message}`;
  }
}

/**
 * Keeps (`include`) or drops (`exclude`) the events that match every given condition: the op is
 * one of `ops`, and `field` of the row image (after, or before for deletes) compares with
 * `value`. Numeric columns compare as numbers, everything else as canonical text (so dates and
 * timestamps compare in time order). Like any filter on a change stream, dropping the update that
 * moves a row out of the condition leaves the row's last image downstream.
 */
export function filter(options: FilterOptions): Transform {
  const { ops, field, operator, value, mode } = options;
  const list = operator === 'in' || operator === 'not_in' ? new Set((value ?? '').split(',').map((v) => v.trim())) : undefined;
  const compiled = operator === 'matches' ? filterPattern(value ?? '') : undefined;
  if (typeof compiled === 'string') throw new TypeError(compiled);
  const pattern = compiled;
  const number = Number(value);
  const holds = (event: ChangeEvent): boolean => {
    if (ops && !ops.includes(event.op)) return false;
    if (field === undefined) return true;
    const actual: ColumnValue = (event.after ?? event.before)?.[field] ?? null;
    switch (operator) {
      case 'is_null':
        return actual === null;
      case 'not_null':
        return actual !== null;
      case 'in':
        return actual !== null && list!.has(textOf(actual));
      case 'not_in':
        return actual === null || !list!.has(textOf(actual));
      case 'matches':
        // matches() is a whole-value match, as `^(?:VALUE)$` would be.
        return actual !== null && pattern!.matches(textOf(actual));
      default: {
        if (actual === null) return operator === 'ne';
        const kind = event.schema.columns.find((c) => c.name === field)?.kind;
        const order = kind && NUMERIC.has(kind) && !Number.isNaN(number) ? Math.sign(Number(actual) - number) : compareText(textOf(actual), value ?? '');
        return compare(operator, order);
      }
    }
  };
  return mode === 'include' ? (event) => (holds(event) ? event : null) : (event) => (holds(event) ? null : event);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compare(operator: FilterOperator, order: number): boolean {
  switch (operator) {
    case 'eq':
      return order === 0;
    case 'ne':
      return order !== 0;
    case 'lt':
      return order < 0;
    case 'le':
      return order <= 0;
    case 'gt':
      return order > 0;
    default:
      return order >= 0;
  }
}
