import { setTimeout as sleep } from 'node:timers/promises';

/** Thrown by a check to stop waiting at once (the awaited thing can no longer happen). */
export class GiveUp extends Error {}

/**
 * `promise`'s value, or `timedOut` once `ms` have passed. The timer is cleared either way: a
 * timer left pending keeps the test file's process alive after its last test, and `make test`
 * waits for every file's process to exit (a forgotten 300 s timer cost that long).
 */
export async function within<T, F>(promise: Promise<T>, ms: number, timedOut: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<F>((resolve) => {
        timer = setTimeout(() => resolve(timedOut), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a truthy value; fails with `what` and the last value after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T> | T, timeoutMs = 60_000, intervalMs = 250): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      if (error instanceof GiveUp) throw error;
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`,
      );
    await sleep(intervalMs);
  }
}
