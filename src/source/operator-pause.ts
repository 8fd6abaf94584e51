import type { CdcError } from '../core/errors.ts';

/** Errors an operator can resolve outside the source (e.g. by relaxing a subject's compatibility level). */
const OPERATOR_ERRORS = new Set(['SCHEMA_INCOMPATIBLE']);

/**
 * The source's paused state. An error only an operator can resolve does not stop the process:
 * the source holds its last committed position (nothing past the failing event was committed),
 * stays alive and unready, and tries again every interval, or at once when retryNow() is called
 * (the hook for an admin "resume" command).
 */
export class OperatorPause {
  #wake: (() => void) | undefined;

  static appliesTo(error: CdcError): boolean {
    return OPERATOR_ERRORS.has(error.code);
  }

  get paused(): boolean {
    return this.#wake !== undefined;
  }

  /** Resolves after `intervalMs`, on retryNow(), or when `signal` aborts. */
  async hold(intervalMs: number, signal: AbortSignal): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, intervalMs);
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  /** Ends the current pause now; false when the source is not paused. */
  retryNow(): boolean {
    const wake = this.#wake;
    wake?.();
    return wake !== undefined;
  }
}
