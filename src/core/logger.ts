import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * One pino logger per process. Secrets never reach it in the first place (config is logged through
 * redactConfig); `redact` is the second line of defence for credentials that libraries put into
 * objects we log (connection options, auth headers).
 */
export function createLogger(level: string, service: string): Logger {
  return pino({
    level,
    base: { service },
    redact: {
      paths: [
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
      ],
      censor: '[redacted]',
    },
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** Serializes an error for a log line: code, retriable, hint and the cause chain, no stack noise. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { err: String(error) };
  const e = error as Error & { code?: unknown; retriable?: unknown; hint?: unknown; details?: unknown };
  const fields: Record<string, unknown> = { code: e.code, message: e.message, retriable: e.retriable, hint: e.hint, details: e.details };
  if (e.cause instanceof Error) fields.cause = e.cause.message;
  return { err: Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) };
}
