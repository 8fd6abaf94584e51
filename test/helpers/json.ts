/**
 * JSON.parse that keeps integers beyond 2^53 exact as BigInt (Elasticsearch `_version`s and long
 * fields), using the reviver's access to the source text (Node 21+).
 */
export function parseJsonBig(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value === 'number' && context?.source && /^-?\d+$/.test(context.source) && !Number.isSafeInteger(value)) return BigInt(context.source);
    return value;
  });
}
