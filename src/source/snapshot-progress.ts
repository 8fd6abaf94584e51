import type { Logger } from '../core/logger.ts';
import type { InitialSnapshot, TableProgress } from './snapshot.ts';
import type { SourceMetrics } from './source-metrics.ts';

/** How often progress is logged (and the terminal bar redrawn at most). */
const LOG_EVERY_MS = 10_000;

interface TableView extends TableProgress {
  rowsPerSecond: number;
  etaSeconds: number | null;
}

/** Per-table progress with rate and ETA, for /status. */
export function snapshotStatus(snapshot: InitialSnapshot): Record<string, TableView> {
  return Object.fromEntries([...snapshot.progress].map(([table, p]) => [table, view(snapshot, table, p)]));
}

function view(snapshot: InitialSnapshot, table: string, p: TableProgress): TableView {
  const start = snapshot.tableStartedAt.get(table) ?? { ms: Date.now(), rows: p.rowsDone };
  const seconds = (Date.now() - start.ms) / 1000;
  const rowsPerSecond = seconds > 0 && !p.done ? (p.rowsDone - start.rows) / seconds : 0;
  const remaining = Math.max(0, p.rowsEstimated - p.rowsDone);
  return { ...p, rowsPerSecond: Math.round(rowsPerSecond), etaSeconds: p.done ? 0 : rowsPerSecond > 0 ? Math.round(remaining / rowsPerSecond) : null };
}

/**
 * Reports snapshot progress three ways: metrics after each committed chunk, a log line every
 * LOG_EVERY_MS, and a one-line progress bar on stderr when it is a terminal.
 */
export class SnapshotReporter {
  readonly #snapshot: InitialSnapshot;
  readonly #metrics: SourceMetrics;
  readonly #log: Logger;
  #loggedAt = Date.now();

  constructor(snapshot: InitialSnapshot, metrics: SourceMetrics, log: Logger) {
    this.#snapshot = snapshot;
    this.#metrics = metrics;
    this.#log = log;
  }

  chunkCommitted(table: string, rows: number): void {
    if (rows === 0) return;
    this.#metrics.snapshotRows.inc({ table }, rows);
    const p = this.#snapshot.progress.get(table);
    if (!p) return;
    const v = view(this.#snapshot, table, p);
    this.#metrics.snapshotRowsEstimated.set({ table }, p.rowsEstimated);
    if (v.etaSeconds !== null) this.#metrics.snapshotEtaSeconds.set({ table }, v.etaSeconds);
    if (process.stderr.isTTY) process.stderr.write(`\r${bar(table, v)}`);
    if (Date.now() - this.#loggedAt >= LOG_EVERY_MS) {
      this.#loggedAt = Date.now();
      this.#log.info({ table, ...v }, 'snapshot progress');
    }
  }

  finished(): void {
    if (process.stderr.isTTY) process.stderr.write('\n');
    const tables = snapshotStatus(this.#snapshot);
    this.#log.info({ tables: Object.keys(tables).length, rows: Object.values(tables).reduce((n, t) => n + t.rowsDone, 0) }, 'snapshot complete; streaming from its position');
  }
}

function bar(table: string, v: TableView): string {
  const fraction = v.rowsEstimated > 0 ? Math.min(1, v.rowsDone / v.rowsEstimated) : 0;
  const width = 30;
  const filled = Math.round(fraction * width);
  return `snapshot ${table} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${v.rowsDone}/~${v.rowsEstimated} rows ${v.rowsPerSecond}/s ETA ${v.etaSeconds ?? '?'}s   `;
}
