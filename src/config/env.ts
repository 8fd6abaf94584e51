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
  /** Another variable that must be set whenever this one is. */
  requires?: string;
  /**
   * The variable is required unless another one has this value (SCHEMA_REGISTRY_URL unless
   * VALUE_CONVERTER=json). Judged on the raw values, so it is listed even when others are invalid.
   */
  requiredUnless?: { variable: string; value: string };
  /**
   * The variable also owns every `NAME_*` variable (TRANSFORMS_ROUTE_REGEX, …): its schema gets
   * `{ value, vars }` and reports problems with the owned variable's name as the issue path.
   */
  prefixed?: boolean;
}

export type Spec = Record<string, VarSpec>;
export type ConfigOf<T extends Spec> = { [K in keyof T]: z.output<T[K]['schema']> };

export function envVar<S extends z.ZodType>(schema: S, doc: string, extra: Omit<VarSpec, 'schema' | 'doc'> = {}): VarSpec<S> {
  return { schema, doc, ...extra };
}

/**
 * Parses `env` against `spec`. Pure apart from reading `*_FILE` secrets through `readFile`.
 * Collects every problem — unknown variables are not problems, typos of ours are caught by the
 * required ones — and throws one CONFIG_INVALID error listing them all.
 */
export function loadConfig<T extends Spec>(spec: T, env: Record<string, string | undefined>, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): ConfigOf<T> {
  const problems: string[] = [];
  const input: Record<string, unknown> = {};
  /** The raw text of every variable read, to show next to its problem. */
  const raw: Record<string, string | undefined> = {};
  for (const [name, varSpec] of Object.entries(spec)) {
    const direct = env[name];
    if (varSpec.prefixed) {
      const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith(`${name}_`) && Boolean(e[1])));
      Object.assign(raw, vars, { [name]: direct || undefined });
      input[name] = { value: direct || undefined, vars };
      continue;
    }
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
    raw[name] = input[name] as string | undefined;
  }
  const shape = Object.fromEntries(Object.entries(spec).map(([name, v]) => [name, v.schema]));
  const result = z.object(shape).safeParse(input);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const [first, second] = issue.path;
      const name = spec[String(first)]?.prefixed && typeof second === 'string' ? second : String(first ?? '');
      const secret = spec[name]?.secret;
      const received = raw[name];
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
  for (const [name, varSpec] of Object.entries(spec)) {
    if (varSpec.requires && raw[name] !== undefined && raw[varSpec.requires] === undefined) problems.push(`${varSpec.requires}: is required when ${name} is set (not set)`);
    const unless = varSpec.requiredUnless;
    if (unless && raw[name] === undefined && raw[unless.variable] !== unless.value) problems.push(`${name}: is required unless ${unless.variable}=${unless.value} (not set)`);
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
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    out[name] = spec[name]?.secret ? '[redacted]' : shown(value);
  }
  return out;
}

/** Regular expressions and lists as text, structured values (the transform chain) as JSON-safe objects. */
function shown(value: unknown): unknown {
  if (value instanceof RegExp) return String(value);
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, shown(v)]));
  if (Array.isArray(value)) return value.every((v) => v === null || typeof v !== 'object' || v instanceof RegExp) ? String(value) : value.map(shown);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shown(v)]));
  return value;
}

/** Markdown reference of one service's variables, generated from the spec itself. */
export function configReference(title: string, spec: Spec): string {
  const rows = Object.entries(spec).map(([name, v]) => {
    const required = v.schema.safeParse(v.prefixed ? { vars: {} } : undefined).success ? '' : ' **(required)**';
    const def = v.default !== undefined ? `\`${v.default}\`` : '';
    const secret = v.secret ? ` Secret: may be given as \`${name}_FILE\`.` : '';
    const requires = v.requires ? ` Requires \`${v.requires}\`.` : '';
    const unless = v.requiredUnless ? ` Required unless \`${v.requiredUnless.variable}=${v.requiredUnless.value}\`.` : '';
    return `| \`${name}\`${required} | ${def} | ${v.doc}${requires}${unless}${secret} |`;
  });
  return [`## ${title}`, '', '| Variable | Default | Meaning |', '|---|---|---|', ...rows, ''].join('\n');
}
