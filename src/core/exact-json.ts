import { JsonText } from './avro-types.ts';

/**
 * JSON text of a value without rounding a number: written by hand rather than with
 * JSON.stringify because longs are BigInts (exact beyond 2^53) and JSON columns (JsonText) are
 * embedded as their stored text. Buffers become base64, as in Elasticsearch's `binary`.
 */
export function exactJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return numberJson(value);
  if (value instanceof JsonText) return oneLineJsonText(value.text);
  if (Buffer.isBuffer(value)) return JSON.stringify(value.toString('base64'));
  if (Array.isArray(value)) return `[${value.map(exactJson).join(',')}]`;
  if (typeof value === 'object') {
    let out = '{';
    let first = true;
    for (const [name, item] of Object.entries(value as Record<string, unknown>)) {
      out += `${first ? '' : ','}${JSON.stringify(name)}:${exactJson(item)}`;
      first = false;
    }
    return `${out}}`;
  }
  return JSON.stringify(value);
}

/** A number's JSON text; NaN and the infinities, which JSON has not, as strings. */
export function numberJson(value: number): string {
  return Number.isFinite(value) ? String(value) : `"${value}"`;
}

/**
 * A JSON column's stored text, embedded as it is but on one line: it may be pretty-printed, a raw
 * line break in valid JSON is only whitespace (strings escape theirs), and a document must stay
 * one line of a bulk request.
 */
export function oneLineJsonText(text: string): string {
  return /[\r\n]/.test(text) ? text.replace(/[\r\n]/g, ' ') : text;
}

/**
 * JSON.parse that keeps integers beyond 2^53 exact as BigInt, using the reviver's access to the
 * source text (Node 21+).
 */
export function parseExactJson(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown, context?: { source?: string }) => {
    if (typeof value === 'number' && context?.source && /^-?\d+$/.test(context.source) && !Number.isSafeInteger(value)) return BigInt(context.source);
    return value;
  });
}
