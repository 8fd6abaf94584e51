import type mysql from 'mysql2/promise';
import type { TableCheck } from './demo-tables.ts';

/** The DDL of a table RowWriter writes to. */
export const ROW_WRITER_TABLE = 'id BIGINT PRIMARY KEY, v INT NOT NULL, name VARCHAR(40), updated DATETIME(6) NOT NULL';

/** Compares a RowWriter table with its index row by row. */
export function rowWriterCheck(table: string, index: string): TableCheck {
  return {
    table,
    index,
    idOf: (r) => String(r.id),
    expected: (r) => ({ id: String(r.id), v: String(r.v), name: String(r.name), updated: String(r.updated).replace(' ', 'T') }),
  };
}

/** Random updates, deletes and inserts on a ROW_WRITER_TABLE until stopped; records each statement's latency. */
export class RowWriter {
  readonly latencies: number[] = [];
  readonly #table: string;
  readonly #rows: number;
  #running = true;
  #done: Promise<void> | undefined;

  /** `rows`: ids 1..rows are the ones updated and deleted. */
  constructor(table: string, rows: number) {
    this.#table = table;
    this.#rows = rows;
  }

  /** Inserts take ids from `from` upwards. */
  start(conn: mysql.Connection, from: number): void {
    let next = from;
    const table = conn.escapeId(this.#table);
    this.#done = (async () => {
      while (this.#running) {
        const id = 1 + Math.floor(Math.random() * this.#rows);
        const started = performance.now();
        const pick = Math.random();
        if (pick < 0.6) await conn.query(`UPDATE ${table} SET v = v + 1, updated = NOW(6) WHERE id = ?`, [id]);
        else if (pick < 0.8) await conn.query(`DELETE FROM ${table} WHERE id = ?`, [id]);
        else await conn.query(`INSERT INTO ${table} VALUES (?, 1, 'new', NOW(6))`, [next++]);
        this.latencies.push(performance.now() - started);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  summary(): string {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]?.toFixed(1);
    return `${sorted.length} statements, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${sorted.at(-1)?.toFixed(1)} ms`;
  }
}
