import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { CdcError } from '../core/errors.ts';

/**
 * One environment variable: its zod schema (which parses the raw string), the documentation line
 * for the generated reference, and whether it is a secret (then `NAME_FILE` may name a file that
 * holds the value — Docker/Kubernetes secrets, Vault agent files — and the value is redacted).
 */
export interface VarSpec<S extends z.ZodType = z.ZodType> {
  schema: S;
  doc: string;
  /** Shown in the reference when the schema applies a default. */
  default?: string;
  secret?: boolean;
  /** The value is the path of a file read at start (a CA, a certificate): it must be readable. */
  file?: boolean;
  /** A rule across variables, checked once each value parsed: returns what is wrong, or nothing. */
  check?: (config: Record<string, unknown>) => string | undefined;
}

export type Spec = Record<string, VarSpec>;
export type ConfigOf<T extends Spec> = { [K in keyof T]: z.output<T[K]['schema']> };

export function envVar<S extends z.ZodType>(schema: S, doc: string, extra: Omit<VarSpec, 'schema' | 'doc'> = {}): VarSpec<S> {
  return { schema, doc, ...extra };
}

// Reusable value parsers. Every environment value is a string; these turn it into a typed value
// and name the expected form in their error.
export const text = () => z.string().trim().min(1, 'must not be empty');
export const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));
export const bool = () => z.stringbool();
export const list = () =>
  z
    .string()
    .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean))
    .pipe(z.array(z.string()).min(1, 'must list at least one item'));
export const regexList = () =>
  list().transform((items, ctx) => {
    const out: RegExp[] = [];
    for (const item of items) {
      try {
        out.push(new RegExp(`^(?:${item})$`));
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `${JSON.stringify(item)} is not a valid regular expression (${(error as Error).message})` });
      }
    }
    return out;
  });
/** `db.table`: one dot between two non-empty names. */
export const qualifiedTable = () => text().regex(/^[^.\s]+\.[^.\s]+$/, 'must be `database.table`');
/** `db.table:col1,col2;db.other:col` → Map from `db.table` to its key columns in order. */
export const keyColumns = () =>
  text().transform((value, ctx) => {
    const out = new Map<string, string[]>();
    for (const entry of value.split(';').map((e) => e.trim()).filter(Boolean)) {
      const match = /^([^.:\s]+\.[^.:\s]+):(.+)$/.exec(entry);
      const columns = match?.[2]!.split(',').map((c) => c.trim()).filter(Boolean) ?? [];
      if (!match || columns.length === 0) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not \`db.table:col1,col2\`` });
      else out.set(match[1]!, columns);
    }
    return out;
  });
export const url = () => text().pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }));

/**
 * Parses `env` against `spec`. Pure apart from reading `*_FILE` secrets through `readFile`.
 * Collects every problem — unknown variables are not problems, typos of ours are caught by the
 * required ones — and throws one CONFIG_INVALID error listing them all.
 */
export function loadConfig<T extends Spec>(
  spec: T,
  env: Record<string, string | undefined>,
  readFile: (path: string) => string = (path) => readFileSync(path, 'utf8'),
): ConfigOf<T> {
  const problems: string[] = [];
  const input: Record<string, string | undefined> = {};
  for (const [name, varSpec] of Object.entries(spec)) {
    const direct = env[name];
    const file = varSpec.secret ? env[`${name}_FILE`] : undefined;
    if (direct !== undefined && direct !== '' && file) {
      problems.push(`${name}: set either ${name} or ${name}_FILE, not both`);
      continue;
    }
    if (file) {
      try {
        input[name] = readFile(file).replace(/\r?\n$/, '');
      } catch (error) {
        problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
    } else {
      input[name] = direct === '' ? undefined : direct;
    }
  }
  const shape = Object.fromEntries(Object.entries(spec).map(([name, v]) => [name, v.schema]));
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const name = String(issue.path[0] ?? '');
      const secret = spec[name]?.secret;
      const received = input[name];
      const shown = received === undefined ? 'not set' : secret ? 'value hidden' : `got ${JSON.stringify(received)}`;
      const message = received === undefined && issue.code === 'invalid_type' ? 'is required' : issue.message;
      problems.push(`${name}: ${message} (${shown})`);
    }
  }
  if (result.success) {
    const config = result.data as Record<string, unknown>;
    for (const [name, varSpec] of Object.entries(spec)) {
      const value = config[name];
      if (varSpec.file && typeof value === 'string') {
        try {
          readFile(value);
        } catch (error) {
          problems.push(`${name}: cannot read ${value} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
        }
      }
      const problem = varSpec.check?.(config);
      if (problem) problems.push(`${name}: ${problem}`);
    }
  }
  if (problems.length > 0) {
    throw new CdcError('CONFIG_INVALID', `Invalid configuration (${problems.length} problem${problems.length > 1 ? 's' : ''}):\n  - ${problems.join('\n  - ')}`, {
      hint: 'See docs/configuration.md for every variable.',
      details: { problems },
    });
  }
  return result.data as ConfigOf<T>;
}

/** Names of the secret variables, so logs and /status can redact them. */
export function secretNames(spec: Spec): string[] {
  return Object.entries(spec)
    .filter(([, v]) => v.secret)
    .map(([name]) => name);
}

/** The configuration with every secret replaced, for /status and start-up logs. */
export function redactConfig<T extends Spec>(spec: T, config: ConfigOf<T>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(config)) {
    if (value === undefined) continue;
    out[name] = spec[name]?.secret ? '[redacted]' : value instanceof Map ? Object.fromEntries(value) : value instanceof RegExp || Array.isArray(value) ? String(value) : value;
  }
  return out;
}

/** Markdown reference of one service's variables, generated from the spec itself. */
export function configReference(title: string, spec: Spec): string {
  const rows = Object.entries(spec).map(([name, v]) => {
    const required = v.schema.safeParse(undefined).success ? '' : ' **(required)**';
    const def = v.default !== undefined ? `\`${v.default}\`` : '';
    const secret = v.secret ? ` Secret: may be given as \`${name}_FILE\`.` : '';
    return `| \`${name}\`${required} | ${def} | ${v.doc}${secret} |`;
  });
  return [`## ${title}`, '', '| Variable | Default | Meaning |', '|---|---|---|', ...rows, ''].join('\n');
}
