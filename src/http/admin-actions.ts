import { CdcError } from '../core/errors.ts';
import { parseResetTarget, type OffsetsReport, type ResetPlan, type ResetTarget } from '../ops/offsets.ts';
import type { Supervisor } from '../ops/supervisor.ts';
import type { AdminAction } from './admin-server.ts';

/**
 * The admin actions a service offers; each is one registered handler, so a new one (say, an
 * incremental snapshot) is one more entry.
 */

export interface Pausable {
  pause(reason: string): boolean;
  resume(): boolean;
}

export function pauseActions(service: Pausable, what: string): AdminAction[] {
  return [
    {
      method: 'POST',
      path: '/admin/pause',
      description: `Pause ${what} (body: {"reason": "..."}, optional); readiness reports it until resumed`,
      run: async (input, who) => {
        const reason = `by ${who}${typeof input.reason === 'string' && input.reason ? `: ${input.reason}` : ''}`;
        return { paused: true, changed: service.pause(reason) };
      },
    },
    { method: 'POST', path: '/admin/resume', description: `Resume ${what}`, run: async () => ({ paused: false, changed: service.resume() }) },
  ];
}

export function restartAction(supervisor: Supervisor): AdminAction {
  return { method: 'POST', path: '/admin/restart', description: 'Restart the service after a fatal error (state failed); refused otherwise', run: async () => supervisor.restart() };
}

export interface OffsetsOwner {
  showOffsets(): Promise<OffsetsReport>;
  resetOffsets(target: ResetTarget, dryRun: boolean): Promise<ResetPlan>;
}

export function offsetsActions(sink: OffsetsOwner): AdminAction[] {
  return [
    { method: 'GET', path: '/admin/offsets', description: "The group's committed offsets, log ranges and lag (as `cdc offsets show`)", run: () => sink.showOffsets() },
    {
      method: 'POST',
      path: '/admin/offsets/reset',
      description: 'Move the group\'s offsets (body: {"to": "earliest|latest|timestamp=<ms or ISO>|offset=<n>", "dryRun": true|false}); the sink leaves its group for it and rejoins',
      run: async (input) => {
        if (typeof input.to !== 'string') throw new CdcError('ARGUMENT_INVALID', 'The body needs "to": earliest, latest, timestamp=<ms or ISO-8601> or offset=<n>');
        const dryRun = input.dryRun === true || input.dryRun === 'true';
        return { dryRun, ...(await sink.resetOffsets(parseResetTarget(input.to), dryRun)) };
      },
    },
  ];
}

/** Requests an incremental snapshot through the signal table, as `cdc snapshot --tables` does. */
export function snapshotAction(request: (tables: string[]) => Promise<unknown>): AdminAction {
  return {
    method: 'POST',
    path: '/admin/snapshot',
    description: 'Incremental snapshot of tables while streaming goes on (body: {"tables": ["db.table", ...]}); written to SIGNAL_TABLE, so it is ordered with the binlog',
    run: async (input) => {
      const tables = input.tables;
      if (!Array.isArray(tables) || tables.length === 0 || tables.some((t) => typeof t !== 'string')) {
        throw new CdcError('ARGUMENT_INVALID', 'The body needs "tables": ["database.table", ...]');
      }
      return request(tables as string[]);
    },
  };
}

/** Ends a SCHEMA_INCOMPATIBLE pause's wait at once, after the operator fixed the subject's level. */
export function retryAction(source: { retryNow(): boolean }): AdminAction {
  return {
    method: 'POST',
    path: '/admin/retry',
    description: "Retry now what a SCHEMA_INCOMPATIBLE pause waits for (after relaxing the subject's compatibility); otherwise it retries every SCHEMA_RETRY_INTERVAL_MS",
    run: async () => ({ retried: source.retryNow() }),
  };
}
