import { z } from 'zod';
import type { ChangeEvent, Op } from '../core/change-event.ts';
import { list, regex, regexList, text } from '../core/env-values.ts';
import { CAST_TYPES, cast, type CastType } from './cast.ts';
import { dropFields, insertFields, renameFields } from './fields.ts';
import { FILTER_OPERATORS, filter, filterPattern, type FilterOperator } from './filter.ts';
import { indexRouter } from './index-router.ts';
import { route } from './route.ts';
import { scoped, type Transform } from './transform.ts';
import { UNWRAP_FIELDS, unwrap, type UnwrapField } from './unwrap.ts';

export type Side = 'source' | 'sink';

/** What a transform may need from the service it runs in. */
export interface TransformContext {
  side: Side;
  /** The event's current topic: set by a route, else the table's topic (source) or the record's (sink). */
  topicOf: (event: ChangeEvent) => string;
}

type Options = Record<string, unknown>;

export interface OptionSpec {
  schema: z.ZodType;
  doc: string;
  required?: boolean;
}

export interface TransformType {
  doc: string;
  sides: readonly Side[];
  options: Record<string, OptionSpec>;
  /** Problems between options, as [option, message]. */
  check?: (options: Options) => Array<[string, string]>;
  build: (name: string, options: Options, context: TransformContext) => Transform;
}

/** One configured transform: TRANSFORMS_<NAME>_TYPE and its parsed TRANSFORMS_<NAME>_<OPTION> values. */
export interface TransformConfig {
  name: string;
  type: string;
  options: Options;
}

const fieldName = () => text().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a field name (letters, digits and _, not starting with a digit)');
const pairs = <T extends z.ZodType>(value: T, form: string) =>
  list().transform((items, ctx) => {
    const out = new Map<string, z.output<T>>();
    for (const item of items) {
      const [from, to, ...rest] = item.split(':').map((s) => s.trim());
      const parsed = value.safeParse(to);
      if (!from || !to || rest.length > 0 || !parsed.success)
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} is not a valid ${form} pair${parsed.success || !to ? '' : ` (${parsed.error.issues[0]?.message})`}` });
      else out.set(from, parsed.data);
    }
    return out;
  });

export const TRANSFORM_TYPES: Record<string, TransformType> = {
  route: {
    doc: 'Renames the topic (Kafka Connect RegexRouter): a topic fully matching REGEX becomes REPLACEMENT.',
    sides: ['source', 'sink'],
    options: {
      REGEX: { schema: regex(), doc: 'Regular expression over the whole topic name.', required: true },
      REPLACEMENT: { schema: text(), doc: 'The new topic; `$1`, `$2`… are REGEX groups.', required: true },
    },
    build: (name, o, context) => route(name, o.REGEX as RegExp, o.REPLACEMENT as string, context.topicOf),
  },
  filter: {
    doc: 'Keeps (MODE=include) or drops (MODE=exclude) the events matching every given condition.',
    sides: ['source', 'sink'],
    options: {
      OPS: { schema: list().pipe(z.array(z.enum(['c', 'u', 'd', 'r']))), doc: 'Comma-separated op types the event must have: c, u, d, r.' },
      FIELD: { schema: text(), doc: 'Column compared with VALUE (in the after image; the before image for deletes).' },
      OPERATOR: {
        schema: z.enum(FILTER_OPERATORS).default('eq'),
        doc: `How FIELD is compared: ${FILTER_OPERATORS.join(', ')} (default eq; in/not_in take a comma-separated VALUE, matches a regular expression).`,
      },
      VALUE: { schema: z.string(), doc: 'Value FIELD is compared with (numbers for numeric columns, else canonical text).' },
      MODE: { schema: z.enum(['include', 'exclude']).default('include'), doc: '`include` (default): keep only matching events; `exclude`: drop matching events.' },
    },
    check: (o) => {
      const problems: Array<[string, string]> = [];
      if (o.OPS === undefined && o.FIELD === undefined) problems.push(['OPS', 'a filter needs OPS or FIELD']);
      const unary = o.OPERATOR === 'is_null' || o.OPERATOR === 'not_null';
      if (o.FIELD !== undefined && !unary && o.VALUE === undefined) problems.push(['VALUE', `is required with OPERATOR=${String(o.OPERATOR)}`]);
      if (o.FIELD === undefined && o.VALUE !== undefined) problems.push(['FIELD', 'is required when VALUE is set']);
      if (o.OPERATOR === 'matches' && typeof o.VALUE === 'string') {
        const pattern = filterPattern(o.VALUE);
        if (typeof pattern === 'string') problems.push(['VALUE', pattern]);
      }
      return problems;
    },
    build: (_name, o) =>
      filter({
        ops: o.OPS as Op[] | undefined,
        field: o.FIELD as string | undefined,
        operator: o.OPERATOR as FilterOperator,
        value: o.VALUE as string | undefined,
        mode: o.MODE as 'include' | 'exclude',
      }),
  },
  drop: {
    doc: 'Removes columns (Kafka Connect ReplaceField `exclude`).',
    sides: ['source', 'sink'],
    options: { FIELDS: { schema: regexList(), doc: 'Comma-separated regular expressions over column names.', required: true } },
    build: (name, o, context) => dropFields(name, o.FIELDS as RegExp[], context.side === 'source'),
  },
  rename: {
    doc: 'Renames columns (Kafka Connect ReplaceField `renames`); key columns are renamed in the key too.',
    sides: ['source', 'sink'],
    options: { RENAMES: { schema: pairs(fieldName(), 'old:new'), doc: 'Comma-separated `old:new` pairs.', required: true } },
    build: (name, o) => renameFields(name, o.RENAMES as Map<string, string>),
  },
  insert: {
    doc: 'Adds columns (Kafka Connect InsertField): a static string, the commit time and/or the source position.',
    sides: ['source', 'sink'],
    options: {
      STATIC_FIELD: { schema: fieldName(), doc: 'Name of a column holding STATIC_VALUE.' },
      STATIC_VALUE: { schema: z.string(), doc: 'The static string.' },
      TIMESTAMP_FIELD: { schema: fieldName(), doc: 'Name of a column holding the commit time on the source (a timestamp).' },
      POSITION_FIELD: { schema: fieldName(), doc: 'Name of a column holding the source position `file:pos#row`.' },
    },
    check: (o) => {
      const problems: Array<[string, string]> = [];
      if (!o.STATIC_FIELD && !o.TIMESTAMP_FIELD && !o.POSITION_FIELD) problems.push(['STATIC_FIELD', 'an insert needs STATIC_FIELD, TIMESTAMP_FIELD or POSITION_FIELD']);
      if (o.STATIC_FIELD !== undefined && o.STATIC_VALUE === undefined) problems.push(['STATIC_VALUE', 'is required with STATIC_FIELD']);
      if (o.STATIC_FIELD === undefined && o.STATIC_VALUE !== undefined) problems.push(['STATIC_FIELD', 'is required with STATIC_VALUE']);
      return problems;
    },
    build: (name, o) =>
      insertFields(name, {
        staticField: o.STATIC_FIELD as string | undefined,
        staticValue: o.STATIC_VALUE as string | undefined,
        timestampField: o.TIMESTAMP_FIELD as string | undefined,
        positionField: o.POSITION_FIELD as string | undefined,
      }),
  },
  cast: {
    doc: 'Changes column types (Kafka Connect Cast); the Avro schema and index mapping follow.',
    sides: ['source', 'sink'],
    options: { SPEC: { schema: pairs(z.enum(CAST_TYPES), 'column:type'), doc: `Comma-separated \`column:type\` pairs; types: ${CAST_TYPES.join(', ')}.`, required: true } },
    build: (name, o) => cast(name, o.SPEC as Map<string, CastType>),
  },
  unwrap: {
    doc: 'Source only: the record value becomes the row image plus chosen change metadata (Debezium ExtractNewRecordState).',
    sides: ['source'],
    options: {
      FIELDS: {
        schema: list()
          .pipe(z.array(z.enum(UNWRAP_FIELDS)))
          .default([]),
        doc: `Comma-separated change metadata to add, each as \`<PREFIX><field>\`: ${UNWRAP_FIELDS.join(', ')}.`,
      },
      DELETES: { schema: z.enum(['rewrite', 'drop']).default('rewrite'), doc: '`rewrite` (default): a delete becomes its last image with `<PREFIX>deleted: true`; `drop`: deletes are dropped.' },
      PREFIX: {
        schema: text()
          .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a field name prefix')
          .default('__'),
        doc: 'Prefix of the metadata fields (default `__`).',
      },
    },
    build: (_name, o) => unwrap({ fields: o.FIELDS as UnwrapField[], deletes: o.DELETES as 'rewrite' | 'drop', prefix: o.PREFIX as string }),
  },
  index_router: {
    doc: 'Sink only: chooses the Elasticsearch index of events whose topic fully matches REGEX.',
    sides: ['sink'],
    options: {
      REGEX: { schema: regex().default(/^(?:.*)$/), doc: 'Regular expression over the whole topic name (default: every topic).' },
      INDEX: { schema: text(), doc: 'Index name: `$1`… are REGEX groups; `{topic}`, `{prefix}`, `{database}`, `{table}` as in INDEX_NAME_TEMPLATE.', required: true },
    },
    build: (_name, o) => indexRouter(o.REGEX as RegExp, o.INDEX as string),
  },
};

/** Options every transform accepts besides its own. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  TABLES: { schema: regexList(), doc: 'Comma-separated regular expressions over `database.table`: the transform applies only to these tables (default: all).' },
};

/** The configured chain as one list of transforms, in order, each limited to its TABLES. */
export function buildTransforms(configs: TransformConfig[], context: TransformContext): Transform[] {
  return configs.map(({ name, type, options }) => scoped(TRANSFORM_TYPES[type]!.build(name, options, context), options.TABLES as RegExp[] | undefined));
}
