import { errorFields, type Logger } from '../core/logger.ts';
import type { AuditEntry, AuditLog } from './audit-log.ts';

/** How long refusals of one client are summed into one audit entry. */
export const REFUSAL_WINDOW_MS = 10_000;
/** Distinct (client, action, outcome) tallies kept per window; more are summed under `remote: "other"`. */
const MAX_TALLIES = 1000;

type Refusal = Pick<AuditEntry, 'remote' | 'action' | 'outcome' | 'status' | 'path'>;

interface Tally extends Refusal {
  count: number;
  from: string;
  to: string;
}

/**
 * Audits refused admin calls without an fsync per call, so a flood of refused calls costs the
 * service little: the first refusal of a client, action and outcome in a window is written at once
 * (an attack shows up in the audit log without delay), the rest of the window is summed and written
 * as one entry with a `count` when the window ends, all of a window's summaries with one fsync.
 * Allowed calls never come here: they are recorded one by one, before they run.
 */
export class RefusalAudit {
  readonly #audit: AuditLog;
  readonly #log: Logger;
  #tallies = new Map<string, Tally>();
  readonly #timer: NodeJS.Timeout;

  constructor(audit: AuditLog, log: Logger, windowMs = REFUSAL_WINDOW_MS) {
    this.#audit = audit;
    this.#log = log;
    this.#timer = setInterval(() => void this.flush(), windowMs);
    this.#timer.unref();
  }

  /** Resolves once the refusal is durable when it is the first of its kind in this window, at once otherwise. */
  async record(refusal: Refusal): Promise<void> {
    const now = new Date().toISOString();
    let key = `${refusal.remote}\u0000${refusal.action}\u0000${refusal.outcome}`;
    if (!this.#tallies.has(key) && this.#tallies.size >= MAX_TALLIES) key = `other\u0000${refusal.action}\u0000${refusal.outcome}`;
    const tally = this.#tallies.get(key);
    if (tally) {
      tally.count++;
      tally.to = now;
      return;
    }
    this.#tallies.set(key, { ...refusal, ...(key.startsWith('other\u0000') ? { remote: 'other' } : {}), count: 0, from: now, to: now });
    await this.#audit.record({ who: null, ...refusal });
  }

  /** Writes the window's summed refusals (those beyond the first of each kind) and starts a new window. */
  async flush(): Promise<void> {
    const tallies = [...this.#tallies.values()].filter((t) => t.count > 0);
    this.#tallies = new Map();
    if (tallies.length === 0) return;
    await this.#audit
      .recordAll(tallies.map(({ from, to, count, path: _path, ...refusal }) => ({ who: null, ...refusal, count, window: { from, to } })))
      .catch((error: unknown) => this.#log.error(errorFields(error), 'cannot write the summed refusals to the audit log'));
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
