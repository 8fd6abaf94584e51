import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable } from './errors.ts';
import { errorFields, type Logger } from './logger.ts';

export interface RetryPolicy {
  /** First delay in ms; doubles on each attempt up to maxDelayMs, with full jitter. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Give up after this long in total (ms); Infinity retries forever. */
  maxElapsedMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 200, maxDelayMs: 10_000, maxElapsedMs: Infinity };

export function backoffDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** attempt);
  // Half fixed, half jitter: never hammers in lockstep, never waits zero.
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

/**
 * Runs `fn` until it succeeds, a non-retriable error is thrown, the time budget is spent, or the
 * signal aborts. `onRetry` sees every retriable failure so callers can log and count it.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: { policy?: RetryPolicy; signal?: AbortSignal; onRetry?: (error: unknown, attempt: number, delayMs: number) => void } = {},
): Promise<T> {
  const policy = options.policy ?? DEFAULT_RETRY;
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const delay = backoffDelay(policy, attempt);
      if (!isRetriable(error) || Date.now() - started + delay > policy.maxElapsedMs || options.signal?.aborted) throw error;
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, undefined, { signal: options.signal }).catch(() => undefined);
      if (options.signal?.aborted) throw error;
    }
  }
}

/**
 * How a retried failure is logged. A condition the service rides out (a broker restarting, a
 * moved leader, Elasticsearch answering 503 for a moment) is a `warn` with the service's own
 * coded error; once the same work has been failing for `boundMs` (READY_STALL_SECONDS, when
 * /readyz turns unready too) each further retry logs at `error`, until the work succeeds again.
 */
export class RetryLog {
  readonly #boundMs: number;
  readonly #now: () => number;
  #failingSince: number | undefined;

  constructor(boundMs: number, now: () => number = Date.now) {
    this.#boundMs = boundMs;
    this.#now = now;
  }

  failed(log: Logger, error: unknown, fields: Record<string, unknown>, message: string): void {
    const now = this.#now();
    this.#failingSince ??= now;
    const failingMs = now - this.#failingSince;
    if (failingMs < this.#boundMs) log.warn({ ...errorFields(error), ...fields }, message);
    else log.error({ ...errorFields(error), ...fields, failingForSeconds: Math.round(failingMs / 1000) }, `${message}; failing for longer than READY_STALL_SECONDS`);
  }

  succeeded(): void {
    this.#failingSince = undefined;
  }
}
