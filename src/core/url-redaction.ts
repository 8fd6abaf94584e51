/**
 * Credentials embedded in a URL (`https://user:pass@host`, or `https://token@host`) are replaced
 * wherever a URL is shown or logged: in configuration values, error messages that quote a
 * request URL, and status pages. Only the userinfo part goes; scheme, host and path stay, so the
 * operator still sees which endpoint is meant.
 */
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]+@/gi;

export const REDACTED_USERINFO = '[redacted]@';

export function redactUrls(text: string): string {
  // Most strings hold no URL: the cheap test keeps the regular expression off the hot path.
  return text.includes('://') && text.includes('@') ? text.replace(USERINFO, `$1${REDACTED_USERINFO}`) : text;
}

/**
 * A copy of a JSON-like value with every string passed through redactUrls; the value itself when
 * nothing needed redacting (so a log line without URLs costs no copy). Depth-bounded: deeper
 * levels are returned unchanged, which the callers' values never reach.
 */
export function redactUrlsDeep<T>(value: T, depth = 8): T {
  return quotesUserinfo(value, depth) ? copyRedacted(value, depth) : value;
}

/** Whether any string within `value` holds a URL with userinfo: a walk without allocation, for every log line. */
function quotesUserinfo(value: unknown, depth: number): boolean {
  if (typeof value === 'string') return value.includes('://') && redactUrls(value) !== value;
  if (depth === 0 || value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((item) => quotesUserinfo(item, depth - 1));
  if (value instanceof Error && quotesUserinfo(value.message, depth)) return true;
  if (Object.getPrototypeOf(value) !== Object.prototype && !(value instanceof Error)) return false;
  for (const key in value) if (quotesUserinfo((value as Record<string, unknown>)[key], depth - 1)) return true;
  return false;
}

function copyRedacted<T>(value: T, depth: number): T {
  if (typeof value === 'string') return redactUrls(value) as T;
  if (depth === 0 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const items = value.map((item: unknown) => copyRedacted(item, depth - 1));
    return (items.some((item, i) => item !== value[i]) ? items : value) as T;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype && !(value instanceof Error)) return value;
  const entries = Object.entries(value);
  const redacted = entries.map(([key, item]) => [key, copyRedacted(item, depth - 1)] as const);
  const changed = redacted.some(([, item], i) => item !== entries[i]![1]);
  if (value instanceof Error) {
    // An error's message is not an own enumerable field: a changed one makes a plain copy.
    const message = redactUrls(value.message);
    if (message !== value.message || changed) return { ...Object.fromEntries(redacted), name: value.name, message } as T;
    return value;
  }
  return (changed ? Object.fromEntries(redacted) : value) as T;
}
