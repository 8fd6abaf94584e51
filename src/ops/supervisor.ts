import { CdcError, errorMessage } from '../core/errors.ts';
import { errorFields, type Logger } from '../core/logger.ts';

export interface Supervised {
  run(): Promise<void>;
  stop(): Promise<void>;
  healthy(): boolean;
}

/**
 * Runs a service. Without an admin API a fatal error ends run() (the process exits 1 and its
 * orchestrator restarts it). With one, the service stays up in its failed state — /readyz says
 * why — until an operator fixes the cause and calls restart(), like a failed Kafka Connect task:
 * a restart loop would only repeat the same error.
 */
export class Supervisor {
  readonly #service: Supervised;
  readonly #log: Logger;
  readonly #waitForRestart: boolean;
  #waiting: ((restart: boolean) => void) | undefined;
  #failure: CdcError | undefined;
  #restarts = 0;

  constructor(service: Supervised, log: Logger, waitForRestart: boolean) {
    this.#service = service;
    this.#log = log;
    this.#waitForRestart = waitForRestart;
  }

  async run(): Promise<void> {
    for (;;) {
      try {
        await this.#service.run();
        return;
      } catch (error) {
        if (!this.#waitForRestart) throw error;
        this.#failure = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
        this.#log.error({ ...errorFields(this.#failure) }, 'failed: fix the cause, then POST /admin/restart (or stop the process)');
        const restart = await new Promise<boolean>((resolve) => (this.#waiting = resolve));
        this.#waiting = undefined;
        if (!restart) throw this.#failure;
        this.#restarts += 1;
        this.#log.info({ after: this.#failure.code, restarts: this.#restarts }, 'restarting after an operator request');
      }
    }
  }

  /** Restarts a failed service; refused (ACTION_NOT_APPLICABLE) while it has not failed. */
  restart(): { restarted: true; failure: string } {
    if (!this.#waiting || !this.#failure) {
      throw new CdcError('ACTION_NOT_APPLICABLE', 'The service has not failed: there is nothing to restart', {
        hint: 'Restart applies after a fatal error (state failed on /status); use pause and resume to hold a running service.',
      });
    }
    const failure = this.#failure.code;
    this.#waiting(true);
    return { restarted: true, failure };
  }

  async stop(): Promise<void> {
    this.#waiting?.(false);
    await this.#service.stop();
  }

  /** A failed service waiting for an operator is alive: /healthz stays 200, /readyz says why. */
  healthy(): boolean {
    return this.#waiting !== undefined || this.#service.healthy();
  }
}
