import { setTimeout as sleep } from 'node:timers/promises';
import { VERSION } from '../version.ts';
import type { CdcError } from './errors.ts';
import { errorFields, type Logger } from './logger.ts';
import { type Probe, type Readiness, readiness } from './probe.ts';
import { backoffDelay, DEFAULT_RETRY, type RetryLog } from './retry.ts';

/** The states every service passes through; each service adds its own running states. */
export type LifecycleState = 'starting' | 'retrying' | 'stopped' | 'failed';

/** How a service's outer loop treats a failure of its pipeline (see restartOnFailure). */
export interface RestartPolicy {
  /** Turns anything thrown into the service's coded error (by the external system it came from). */
  classify: (error: unknown) => CdcError;
  /** Releases what the failed attempt held; called after every attempt, so it must be idempotent. */
  teardown: () => Promise<void>;
  restarts: { inc(labels: { code: string }): void };
  log: Logger;
  /** Logged (warn) with the error and the delay before each restart. */
  restarting: string;
  /** When given, restarts log at warn only until the failure lasts its bound, then at error (reset by `recovered`). */
  retryLog?: RetryLog;
  /**
   * A fatal error the service waits out instead of stopping (an operator must act): resolves true
   * to run the pipeline again, false to fail as usual.
   */
  hold?: (error: CdcError) => Promise<boolean>;
}

/** What /status shows of an error: never its cause (which may quote a server's answer at length). */
export function errorSummary(error: CdcError | undefined): Record<string, unknown> | null {
  if (!error) return null;
  return { code: error.code, message: error.message, hint: error.hint, ...(error.details ? { details: error.details } : {}) };
}

/**
 * The skeleton the four services share: state, last error, stop signal, health, the first reason
 * readiness gives, the head of /status, and the outer retry boundary that restarts a pipeline from
 * what is durable. Each service adds its own stages, readiness checks and status fields.
 */
export abstract class ServiceBase<Running extends string> implements Probe {
  protected state: Running | LifecycleState = 'starting';
  protected lastError: CdcError | undefined;
  readonly #name: string;
  readonly #stop = new AbortController();

  protected constructor(name: string) {
    this.#name = name;
  }

  /** Aborted by stop(): every loop of the service ends with it. */
  protected get stopSignal(): AbortSignal {
    return this.#stop.signal;
  }

  async stop(): Promise<void> {
    this.#stop.abort();
  }

  healthy(): boolean {
    return this.state !== 'failed';
  }

  abstract ready(): Readiness;
  abstract status(): unknown;

  /** Records a fatal error: the service is failed (unhealthy) and says why. */
  protected fail(error: CdcError): CdcError {
    this.state = 'failed';
    this.lastError = error;
    return error;
  }

  /** Readiness whose first reason, outside the running states, is the last error (or the state itself). */
  protected readinessOf(running: readonly Running[], problems: Array<string | false | undefined>, checks: Record<string, unknown>): Readiness {
    const idle = !(running as readonly string[]).includes(this.state) && (this.lastError ? this.lastError.describe() : `the ${this.#name} is ${this.state}`);
    return readiness(this.state, [idle, ...problems], checks);
  }

  /** /status: the service, version and state, its own fields, the last error and the redacted configuration. */
  protected statusOf(fields: Record<string, unknown>, config: Record<string, unknown>): Record<string, unknown> {
    return { service: this.#name, version: VERSION, state: this.state, ...fields, lastError: errorSummary(this.lastError), config };
  }

  /**
   * The service's outer retry boundary: runs `pipeline` until it returns or stop(). A retriable
   * failure tears it down, waits a backoff (growing until `recovered` is called) and runs it again
   * from what is durable; a fatal one fails the service and is thrown.
   */
  protected async restartOnFailure(pipeline: (recovered: () => void) => Promise<void>, policy: RestartPolicy): Promise<void> {
    const signal = this.stopSignal;
    let attempt = 0;
    const recovered = () => {
      attempt = 0;
      policy.retryLog?.succeeded();
    };
    while (!signal.aborted) {
      try {
        await pipeline(recovered);
        return;
      } catch (error) {
        const cdc = policy.classify(error);
        this.lastError = cdc;
        if (signal.aborted) return;
        if (!cdc.retriable && policy.hold) {
          // Held with nothing open: the pipeline runs again from scratch when the hold ends.
          await policy.teardown();
          if (await policy.hold(cdc)) continue;
        }
        if (!cdc.retriable) throw this.fail(cdc);
        this.state = 'retrying';
        policy.restarts.inc({ code: cdc.code });
        const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt++, 8));
        if (policy.retryLog) policy.retryLog.failed(policy.log, cdc, { retryInMs: delay }, policy.restarting);
        else policy.log.warn({ ...errorFields(cdc), retryInMs: delay }, policy.restarting);
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      } finally {
        await policy.teardown();
        if (signal.aborted) this.state = 'stopped';
      }
    }
  }
}
