import pino, { type Logger } from 'pino';
import { redactUrlsDeep } from './url-redaction.ts';

export type { Logger };

/**
 * What pino's `redact` removes from every log line: credentials that libraries put into objects
 * we log (connection options, auth headers), and the raw key values of snapshot progress (the
 * last key read and the key a table stops at), which are row data a hashed or masked key column
 * must not leak (docs/transforms.md, "Hashed key columns and snapshot progress").
 */
export const REDACTED_LOG_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'apiKey',
  '*.apiKey',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  'auth',
  '*.auth',
  'sasl',
  '*.sasl',
  'ssl.key',
  '*.ssl.key',
  'lastKey',
  'upTo',
  '*.lastKey',
  '*.upTo',
  '*.*.lastKey',
  '*.*.upTo',
];

/**
 * One pino logger per process. Secrets never reach it in the first place (config is logged through
 * redactConfig); `redact` is the second line of defence, and every logged string has the
 * credentials of the URLs it quotes removed (an error message naming `https://user:pass@host`).
 */
export function createLogger(level: string, service: string, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service },
    redact: { paths: REDACTED_LOG_PATHS, censor: '[redacted]' },
    hooks: {
      logMethod(args, method) {
        method.apply(this, redactUrlsDeep(args) as Parameters<typeof method>);
      },
    },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

/** Serializes an error for a log line: code, retriable, hint and the cause chain, no stack noise. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { err: String(error) };
  const e = error as Error & { code?: unknown; retriable?: unknown; hint?: unknown; details?: unknown };
  const fields: Record<string, unknown> = { code: e.code, message: e.message, retriable: e.retriable, hint: e.hint, details: e.details };
  if (e.cause instanceof Error) fields.cause = e.cause.message;
  return { err: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) };
}
