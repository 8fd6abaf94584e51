/** What a service shows on /healthz, /readyz and /status (served by http/server.ts). */
export interface Probe {
  /** Alive: the process is running its loop (false only when it is wedged or stopping). */
  healthy(): boolean;
  /** Ready: connected and making progress; the reason is shown when not. */
  ready(): Readiness;
  /** JSON status: position, lag, counts, last error, redacted configuration. */
  status(): unknown;
}

/** The body of /readyz: ready or not, every reason why not, and the inputs the verdict came from. */
export interface Readiness {
  ready: boolean;
  state: string;
  /** The first problem (kept for probes that show one line). */
  reason?: string;
  reasons: string[];
  checks: Record<string, unknown>;
}

export function readiness(state: string, problems: Array<string | false | undefined>, checks: Record<string, unknown>): Readiness {
  const reasons = problems.filter((p): p is string => typeof p === 'string');
  return { ready: reasons.length === 0, state, ...(reasons.length > 0 ? { reason: reasons[0] } : {}), reasons, checks };
}

/** Whole seconds since `ms` (null when it never happened). */
export function secondsSince(ms: number | undefined): number | null {
  return ms ? Math.floor((Date.now() - ms) / 1000) : null;
}
