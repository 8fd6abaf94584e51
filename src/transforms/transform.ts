import { isGeometry, schemaFingerprint, storedGeometry, type ChangeEvent, type ColumnDef, type ColumnValue, type Row, type TableSchema } from '../core/change-event.ts';
import { CdcError } from '../core/errors.ts';

/** A single-message transform: one event in, the changed event (a new object) or null (dropped) out. */
export type Transform = (event: ChangeEvent) => ChangeEvent | null;

/** Runs transforms in order; an event dropped by one never reaches the next. */
export function chain(transforms: Transform[]): Transform {
  if (transforms.length === 0) return (event) => event;
  if (transforms.length === 1) return transforms[0]!;
  return (event) => {
    let out: ChangeEvent | null = event;
    for (let i = 0; i < transforms.length && out; i++) out = transforms[i]!(out);
    return out;
  };
}

export const qualifiedName = (schema: TableSchema): string => `${schema.database}.${schema.table}`;

/** One output column: its definition and how its value comes from the input row. */
export interface ColumnPlan {
  def: ColumnDef;
  value: (row: Row, event: ChangeEvent) => ColumnValue;
}

/** How a column-wise transform rewrites the events of one table; null leaves them untouched. */
export interface TablePlan {
  columns: ColumnPlan[];
  key: string[];
}

export const keep = (def: ColumnDef): ColumnPlan => {
  const name = def.name;
  return { def, value: (row) => row[name] ?? null };
};

/**
 * A transform that rewrites columns: `plan` runs once per input schema (memoised by identity, so
 * every event of a table shares one output schema and the encoder's schema cache keeps hitting);
 * each event then only rebuilds its row images. A plan that throws is thrown for every event of
 * that table: nothing is written with a half-applied transform.
 */
export function columnTransform(plan: (schema: TableSchema) => TablePlan | null): Transform {
  const plans = new WeakMap<TableSchema, { schema: TableSchema; columns: ColumnPlan[] } | null>();
  const planOf = (schema: TableSchema) => {
    let entry = plans.get(schema);
    if (entry === undefined) {
      const table = plan(schema);
      entry = table && {
        schema: {
          ...schema,
          columns: table.columns.map((c) => c.def),
          key: table.key,
          fingerprint: schemaFingerprint(
            table.columns.map((c) => c.def),
            table.key,
          ),
        },
        columns: table.columns,
      };
      plans.set(schema, entry);
    }
    return entry;
  };
  return (event) => {
    const entry = planOf(event.schema);
    if (!entry) return event;
    const rewrite = (row: Row | null): Row | null => {
      if (!row) return null;
      const out: Row = {};
      for (const column of entry.columns) out[column.def.name] = column.value(row, event);
      return out;
    };
    return { ...event, schema: entry.schema, before: rewrite(event.before), after: rewrite(event.after) };
  };
}

/** Limits a transform to the tables matching `tables` (regular expressions over `database.table`). */
export function scoped(transform: Transform, tables: RegExp[] | undefined): Transform {
  if (!tables) return transform;
  const inScope = new WeakMap<TableSchema, boolean>();
  return (event) => {
    let yes = inScope.get(event.schema);
    if (yes === undefined) {
      const name = qualifiedName(event.schema);
      yes = tables.some((re) => re.test(name));
      inScope.set(event.schema, yes);
    }
    return yes ? transform(event) : event;
  };
}

/** A transform that cannot apply as configured: never retried, names what to change. */
export function transformError(what: string, message: string, hint: string): CdcError {
  return new CdcError('TRANSFORM_FAILED', `${what}: ${message}`, { hint });
}

/** The text of a value for hashing, comparing and casting: numbers exact, binary as base64. */
export function textOf(value: ColumnValue): string {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  // A geometry as text is its stored form (SRID + WKB) in base64, like any binary value.
  if (isGeometry(value)) return storedGeometry(value).toString('base64');
  if (value !== null && typeof value === 'object' && 'text' in value) return String((value as { text: unknown }).text);
  return String(value);
}
