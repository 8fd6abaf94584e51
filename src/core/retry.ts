import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable } from './errors.ts';

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
