import { z } from 'zod';

/**
 * Reusable parsers of environment values, shared by the configuration schemas (config/) and the
 * transforms' options (transforms/catalog.ts). Every environment value is a string; these turn it
 * into a typed value and name the expected form in their error.
 */
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
    .transform((value) =>
      value
        .split(',')
        .map((item) => item.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string()).min(1, 'must list at least one item'));
/** A regular expression that must match a whole name, or a message saying why it is invalid. */
function fullMatch(pattern: string): RegExp | string {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (error) {
    return `${JSON.stringify(pattern)} is not a valid regular expression (${(error as Error).message})`;
  }
}
const toRegexes = (items: string[], ctx: z.RefinementCtx): RegExp[] => {
  const out: RegExp[] = [];
  for (const item of items) {
    const re = fullMatch(item);
    if (typeof re === 'string') ctx.addIssue({ code: 'custom', message: re });
    else out.push(re);
  }
  return out;
};
export const regexList = () => list().transform(toRegexes);
/** One regular expression (it may contain commas), matched against whole names. */
export const regex = () => text().transform((item, ctx) => toRegexes([item], ctx)[0]!);
/** `db.table`: one dot between two non-empty names. */
export const qualifiedTable = () => text().regex(/^[^.\s]+\.[^.\s]+$/, 'must be `database.table`');
/** `db.table:col1,col2;db.other:col` → Map from `db.table` to its key columns in order. */
export const keyColumns = () =>
  text().transform((value, ctx) => {
    const out = new Map<string, string[]>();
    for (const entry of value
      .split(';')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const match = /^([^.:\s]+\.[^.:\s]+):(.+)$/.exec(entry);
      const columns =
        match?.[2]
          ?.split(',')
          .map((c) => c.trim())
          .filter(Boolean) ?? [];
      if (!match || columns.length === 0) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(entry)} is not \`db.table:col1,col2\`` });
      else out.set(match[1]!, columns);
    }
    return out;
  });
export const url = () => text().pipe(z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }));
