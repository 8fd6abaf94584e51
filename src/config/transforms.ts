import { z } from 'zod';
import { COMMON_OPTIONS, TRANSFORM_TYPES, type Side, type TransformConfig } from '../transforms/catalog.ts';
import { envVar } from './env.ts';

/**
 * TRANSFORMS, in the Kafka Connect style: `TRANSFORMS=route,mask` names the chain in order,
 * `TRANSFORMS_ROUTE_TYPE=route` says what each one is and `TRANSFORMS_ROUTE_<OPTION>` configures
 * it. loadConfig hands this variable every `TRANSFORMS_*` variable too (`prefixed`), so a typo in
 * an option name, an unknown type or an option without a transform is reported with the rest.
 */
export function transformsVar(side: Side) {
  const types = Object.entries(TRANSFORM_TYPES)
    .filter(([, t]) => t.sides.includes(side))
    .map(([type]) => type);
  const schema = z.object({ value: z.string().optional(), vars: z.record(z.string(), z.string()) }).transform((input, ctx) => {
    const { configs, problems } = parseTransforms(side, input.value, input.vars);
    for (const [variable, message] of problems) ctx.addIssue({ code: 'custom', message, path: [variable] });
    return configs;
  });
  return envVar(
    schema,
    `Comma-separated names of single-message transforms applied in order, each configured by \`TRANSFORMS_<NAME>_TYPE\` (${types.map((t) => `\`${t}\``).join(', ')}) and \`TRANSFORMS_<NAME>_<OPTION>\`: see [transforms.md](transforms.md).`,
    { prefixed: true },
  );
}

/** Every problem as [variable, message]; the configs are complete only when there are none. */
export function parseTransforms(side: Side, value: string | undefined, vars: Record<string, string>): { configs: TransformConfig[]; problems: Array<[string, string]> } {
  const problems: Array<[string, string]> = [];
  const names = (value ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean);
  const seen = new Set<string>();
  for (const name of names) {
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) problems.push(['TRANSFORMS', `${JSON.stringify(name)} is not a valid transform name (letters, digits and _)`]);
    else if (seen.has(name.toUpperCase())) problems.push(['TRANSFORMS', `${name} is listed twice`]);
    else seen.add(name.toUpperCase());
  }
  // Longest name first: TRANSFORMS_A_B_X belongs to `a_b`, not to `a` with option B_X.
  const byPrefix = [...seen].sort((a, b) => b.length - a.length).map((upper) => [`TRANSFORMS_${upper}_`, upper] as const);
  const given = new Map<string, Map<string, [variable: string, value: string]>>([...seen].map((upper) => [upper, new Map()]));
  for (const [variable, raw] of Object.entries(vars)) {
    const owner = byPrefix.find(([prefix]) => variable.startsWith(prefix));
    if (!owner) {
      problems.push([variable, `belongs to no transform listed in TRANSFORMS (${names.length > 0 ? names.join(', ') : 'not set'})`]);
      continue;
    }
    given.get(owner[1])!.set(variable.slice(owner[0].length), [variable, raw]);
  }
  const configs: TransformConfig[] = [];
  for (const [upper, options] of given) {
    const name = names.find((n) => n.toUpperCase() === upper)!;
    const typeVariable = `TRANSFORMS_${upper}_TYPE`;
    const type = options.get('TYPE')?.[1].trim();
    options.delete('TYPE');
    const known = Object.entries(TRANSFORM_TYPES)
      .filter(([, t]) => t.sides.includes(side))
      .map(([t]) => t);
    const spec = type === undefined ? undefined : TRANSFORM_TYPES[type];
    if (!spec?.sides.includes(side)) {
      const why = type === undefined ? 'is required' : spec ? `${type} runs only on the ${spec.sides.join(' and ')}` : `unknown transform type ${JSON.stringify(type)}`;
      problems.push([typeVariable, `${why} (on the ${side}: ${known.join(', ')})`]);
      continue;
    }
    const optionSpecs = { ...spec.options, ...COMMON_OPTIONS };
    const parsed: Record<string, unknown> = {};
    for (const [option, [variable]] of options) {
      if (!(option in optionSpecs)) problems.push([variable, `unknown option of ${type} (known: ${Object.keys(optionSpecs).join(', ')})`]);
    }
    let valid = true;
    for (const [option, optionSpec] of Object.entries(optionSpecs)) {
      const [variable, raw] = options.get(option) ?? [`TRANSFORMS_${upper}_${option}`, undefined];
      if (raw === undefined && optionSpec.required) {
        problems.push([variable, `is required by ${type}`]);
        valid = false;
        continue;
      }
      const result = optionSpec.schema.safeParse(raw);
      if (result.success) parsed[option] = result.data;
      else if (raw !== undefined) {
        for (const issue of result.error.issues) problems.push([variable, issue.message]);
        valid = false;
      }
    }
    if (!valid) continue;
    for (const [option, message] of spec.check?.(parsed) ?? []) problems.push([`TRANSFORMS_${upper}_${option}`, message]);
    configs.push({ name, type: type!, options: parsed });
  }
  return { configs, problems };
}
