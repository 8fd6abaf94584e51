import { setTimeout as sleep } from 'node:timers/promises';
import type mysql from 'mysql2/promise';
import { rootConnection, rows } from '../helpers/mysql.ts';
import { createTableSql, MATRIX, type MatrixTable } from '../helpers/type-matrix.ts';
import type { Random } from './random.ts';

/**
 * A table of the fault run. Keyed tables are told apart by `id` (unique, never updated); the
 * keyless one by `n`. `tag` is the column every change sets to a value never used before in it,
 * so the changes a row went through can be read back from Kafka as a sequence.
 */
export interface WorkloadTable extends MatrixTable {
  identity: 'id' | 'n';
  tag: 'n' | 'v';
  keyless?: true;
}

const N = { name: 'n', ddl: 'BIGINT NOT NULL', expect: 'text' } as const;
const text = (name: string, ddl: string, key?: true) => ({ name, ddl, expect: 'text' as const, ...(key ? { key } : {}) });

/** Every type of the type matrix (one table per family), plus the change counter `n`. */
const matrixTables = (): WorkloadTable[] => MATRIX.map((t) => ({ ...t, columns: [...t.columns, N], identity: 'id', tag: 'n' }));

/** The tables, in a fresh descriptor set per run (`evolve` changes shape with its DDL steps). */
export function workloadTables(): WorkloadTable[] {
  return [
    ...matrixTables(),
    // composite key of unsigned columns, with their extreme values
    { name: 'ck', columns: [text('ka', 'INT UNSIGNED NOT NULL', true), text('kb', 'BIGINT UNSIGNED NOT NULL', true), text('v', 'VARCHAR(40)'), N], rows: [], identity: 'id', tag: 'n' },
    { name: 'evolve', columns: [text('a', 'INT'), text('b', 'VARCHAR(20)'), N], rows: [], identity: 'id', tag: 'n' },
    { name: 'big', columns: [text('pad', 'VARCHAR(20)'), N], rows: [], identity: 'id', tag: 'n' },
    { name: 'canary', columns: [N], rows: [], identity: 'id', tag: 'n' },
    { name: 'nokey', columns: [text('n', 'BIGINT NOT NULL'), text('v', 'VARCHAR(40)')], rows: [], identity: 'n', tag: 'v', keyless: true },
  ];
}

export function createSql(table: WorkloadTable): string {
  return table.keyless ? `CREATE TABLE ${table.name} (${table.columns.map((c) => `${c.name} ${c.ddl}`).join(', ')})` : createTableSql(table);
}

/** The evolve table's DDL steps, in order: each with the check that tells whether it was applied. */
const DDL_STEPS = [
  {
    sql: "ALTER TABLE evolve ADD COLUMN c VARCHAR(20) DEFAULT 'added'",
    applied: (cols: Map<string, string>) => cols.has('c'),
    apply: (t: WorkloadTable) => t.columns.splice(2, 0, text('c', "VARCHAR(20) DEFAULT 'added'")),
  },
  // INT → BIGINT: values stay in INT range, which the index's first mapping (integer) still takes (docs/schema-evolution.md)
  { sql: 'ALTER TABLE evolve MODIFY a BIGINT', applied: (cols: Map<string, string>) => cols.get('a') === 'bigint', apply: (t: WorkloadTable) => (t.columns[0] = text('a', 'BIGINT')) },
  { sql: 'ALTER TABLE evolve RENAME COLUMN b TO b2', applied: (cols: Map<string, string>) => cols.has('b2'), apply: (t: WorkloadTable) => (t.columns[1] = text('b2', 'VARCHAR(20)')) },
];
export const DDL_STEP_COUNT = DDL_STEPS.length;

/** Identities of a table's live rows with their current tag, with O(1) random picks. */
class LiveRows {
  readonly #ids: string[] = [];
  readonly #at = new Map<string, number>();
  readonly tag = new Map<string, string>();
  /** Recently deleted identities, for re-inserts of the same key in a later transaction. */
  readonly dead: string[] = [];

  get size(): number {
    return this.#ids.length;
  }
  has(id: string): boolean {
    return this.#at.has(id);
  }
  add(id: string, tag: string): void {
    this.#at.set(id, this.#ids.length);
    this.#ids.push(id);
    this.tag.set(id, tag);
  }
  remove(id: string): void {
    const at = this.#at.get(id)!;
    const last = this.#ids.pop()!;
    if (last !== id) {
      this.#ids[at] = last;
      this.#at.set(last, at);
    }
    this.#at.delete(id);
    this.tag.delete(id);
  }
  random(rng: Random): string | undefined {
    return this.#ids.length === 0 ? undefined : this.#ids[rng.int(0, this.#ids.length - 1)];
  }
  all(): string[] {
    return [...this.#ids];
  }
}

/** A transaction in progress: its statements and how to take back its effect on the model. */
interface Tx {
  conn: mysql.Connection;
  undo: Array<() => void>;
}

const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'ER_QUERY_INTERRUPTED']);
const lostConnection = (error: unknown) => {
  const e = error as { fatal?: boolean; code?: string };
  return e.fatal === true || CONNECTION_ERRORS.has(String(e.code));
};

export interface WorkloadStats {
  transactions: number;
  rolledBack: number;
  /** Transactions whose COMMIT got no answer, resolved by looking for their txlog row. */
  ambiguous: number;
  changes: number;
  bigTransactionRows: number;
  ddlSteps: number;
}

/**
 * One writer connection that runs random multi-table transactions and, between them, the jobs it
 * is given (probes, the large transaction, DDL). Commit order is program order. Every committed
 * change is logged per table and row identity as `op:tag`; a transaction whose connection broke is
 * looked up in `txlog` (written in the same transaction, not captured) to learn whether it committed.
 */
export class Workload {
  readonly tables: WorkloadTable[];
  /** table → identity → changes in commit order */
  readonly changes = new Map<string, Map<string, string[]>>();
  readonly stats: WorkloadStats = { transactions: 0, rolledBack: 0, ambiguous: 0, changes: 0, bigTransactionRows: 0, ddlSteps: 0 };
  readonly #live = new Map<string, LiveRows>();
  readonly #rng: Random;
  readonly #database: string;
  #conn: mysql.Connection | undefined;
  #tag = 0;
  #nextId = 1;
  readonly #ckKeys = new Map<string, [string, string]>();
  #txid = 0;
  #random = true;
  #closed = false;
  #jobs: Array<() => Promise<void>> = [];
  #loop: Promise<void> | undefined;

  constructor(database: string, tables: WorkloadTable[], rng: Random) {
    this.#database = database;
    this.tables = tables;
    this.#rng = rng;
    for (const t of tables) {
      this.changes.set(t.name, new Map());
      this.#live.set(t.name, new LiveRows());
    }
  }

  table(name: string): WorkloadTable {
    return this.tables.find((t) => t.name === name)!;
  }

  /** Creates the tables (and txlog) in the run's database. */
  async create(conn: mysql.Connection): Promise<void> {
    await conn.query([...this.tables.map(createSql), 'CREATE TABLE txlog (id BIGINT PRIMARY KEY)'].join(';\n'));
  }

  start(): void {
    this.#loop = (async () => {
      while (!this.#closed) {
        const job = this.#jobs.shift();
        if (job) await job();
        else if (this.#random) {
          await this.#transaction((tx) => this.#randomOps(tx));
          await sleep(this.#rng.int(0, 30));
        } else await sleep(50);
      }
    })();
  }

  /** Stops the random transactions (jobs still run) once the current one has finished. */
  async stopRandom(): Promise<void> {
    this.#random = false;
    await this.#job(async () => {});
  }

  async close(): Promise<void> {
    if (this.#closed || !this.#loop) return;
    await this.stopRandom();
    this.#closed = true;
    await this.#loop;
    await this.#conn?.end().catch(() => {});
  }

  /** Sets every canary row's tag to a new value; resolves with it once committed. */
  probe(): Promise<string> {
    return this.#job(async () => {
      let tag = '';
      await this.#retried(async (tx) => {
        tag = this.#newTag();
        const live = this.#live.get('canary')!;
        if (live.size === 0) for (let id = 1; id <= 4; id++) await this.#insert(tx, 'canary', String(id), tag, false);
        else {
          await tx.conn.query('UPDATE canary SET n = ?', [tag]);
          for (const id of live.all()) this.#retag(tx, 'canary', id, tag);
        }
      });
      return tag;
    });
  }

  canaryIds(): string[] {
    return this.#live.get('canary')!.all();
  }

  /** One transaction inserting `count` rows into `big` (`large`: the workload's large transaction, counted in its stats). */
  bigTransaction(count: number, large = true): Promise<void> {
    return this.#job(async () => {
      await this.#retried(async (tx) => {
        for (let done = 0; done < count; done += 2000) {
          const values: unknown[] = [];
          const chunk = Math.min(2000, count - done);
          for (let i = 0; i < chunk; i++) {
            const id = String(this.#nextId++);
            const tag = this.#newTag();
            values.push(id, `big${id}`, tag);
            this.#change(
              tx,
              'big',
              id,
              'c',
              tag,
              () => this.#live.get('big')!.add(id, tag),
              () => this.#live.get('big')!.remove(id),
            );
          }
          await tx.conn.query(`INSERT INTO big (id, pad, n) VALUES ${Array.from({ length: chunk }, () => '(?, ?, ?)').join(', ')}`, values);
        }
      });
      if (large) this.stats.bigTransactionRows += count;
    });
  }

  /** The next DDL step of `evolve` (add a column, widen a type, rename a column), then an update of each of its rows. */
  nextDdl(): Promise<string | undefined> {
    return this.#job(async () => {
      const step = DDL_STEPS[this.stats.ddlSteps];
      if (!step) return undefined;
      for (;;) {
        try {
          await (await this.#connection()).query(step.sql);
          break;
        } catch (error) {
          if (!lostConnection(error)) throw error;
          this.#drop();
          const cols = new Map(
            (await rows(await this.#connection(), `SELECT COLUMN_NAME AS c, DATA_TYPE AS t FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '${this.#database}' AND TABLE_NAME = 'evolve'`)).map(
              (r) => [String(r.c), String(r.t)] as const,
            ),
          );
          if (step.applied(cols)) break;
        }
      }
      step.apply(this.table('evolve'));
      this.stats.ddlSteps += 1;
      // Rewrite every row, so each document takes the new shape (old documents keep a renamed column's old name).
      await this.#retried(async (tx) => {
        for (const id of this.#live.get('evolve')!.all()) await this.#update(tx, 'evolve', id);
      });
      return step.sql;
    });
  }

  /** Runs `body` between the writer's transactions; resolves with its result. */
  #job<T>(body: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push(() => body().then(resolve, reject));
    });
  }

  /** A transaction retried until it commits. */
  async #retried(body: (tx: Tx) => Promise<void>): Promise<void> {
    while (!(await this.#transaction(body))) await sleep(200);
  }

  async #connection(): Promise<mysql.Connection> {
    while (!this.#conn) {
      try {
        const conn = await rootConnection(this.#database);
        conn.on('error', () => this.#drop());
        // A non-UTC session zone for TIMESTAMP literals, and zero dates allowed (the type matrix writes them).
        await conn.query("SET time_zone = '+05:30', sql_mode = ''");
        this.#conn = conn;
      } catch {
        await sleep(500);
      }
    }
    return this.#conn;
  }

  #drop(): void {
    this.#conn?.destroy();
    this.#conn = undefined;
  }

  /** Runs one transaction; true when it committed. A lost connection rolls the model back unless txlog shows the commit. */
  async #transaction(body: (tx: Tx) => Promise<void>): Promise<boolean> {
    const txid = ++this.#txid;
    const tx: Tx = { conn: await this.#connection(), undo: [] };
    try {
      await tx.conn.query('START TRANSACTION');
      await body(tx);
      await tx.conn.query('INSERT INTO txlog VALUES (?)', [txid]);
      await tx.conn.query('COMMIT');
      this.stats.transactions += 1;
      return true;
    } catch (error) {
      if (!lostConnection(error)) throw error;
      this.#drop();
      let committed: boolean | undefined;
      while (committed === undefined) {
        try {
          committed = (await rows(await this.#connection(), `SELECT id FROM txlog WHERE id = ${txid}`)).length > 0;
        } catch (again) {
          if (!lostConnection(again)) throw again;
          this.#drop();
        }
      }
      this.stats.ambiguous += 1;
      if (committed) this.stats.transactions += 1;
      else {
        this.stats.rolledBack += 1;
        for (const undo of tx.undo.reverse()) undo();
      }
      return committed;
    }
  }

  #newTag(): string {
    return String(++this.#tag);
  }

  /** Logs a change and applies it to the model; the transaction's undo takes both back. */
  #change(tx: Tx, table: string, id: string, op: 'c' | 'u' | 'd', tag: string, apply: () => void, revert: () => void): void {
    const byId = this.changes.get(table)!;
    const entries = byId.get(id) ?? [];
    byId.set(id, entries);
    entries.push(`${op}:${tag}`);
    this.stats.changes += 1;
    apply();
    tx.undo.push(() => {
      entries.pop();
      this.stats.changes -= 1;
      revert();
    });
  }

  /** A new tag for a row that exists: logged as an update. */
  #retag(tx: Tx, table: string, id: string, tag: string): void {
    const live = this.#live.get(table)!;
    const old = live.tag.get(id)!;
    this.#change(
      tx,
      table,
      id,
      'u',
      tag,
      () => live.tag.set(id, tag),
      () => live.tag.set(id, old),
    );
  }

  async #randomOps(tx: Tx): Promise<void> {
    const ops = this.#rng.chance(0.2) ? this.#rng.int(5, 12) : this.#rng.int(1, 4);
    for (let i = 0; i < ops; i++) {
      const table = this.#rng.pick(this.tables.filter((t) => t.name !== 'canary' && (t.name !== 'big' || this.#live.get('big')!.size > 0)));
      const live = this.#live.get(table.name)!;
      const roll = this.#rng.next();
      const id = live.random(this.#rng);
      const full = live.size >= 200;
      if (id === undefined || (!full && roll < 0.35)) await this.#insert(tx, table.name, this.#newIdentity(table), this.#newTag(), true);
      else if (roll < 0.7) await this.#update(tx, table.name, id);
      else if (roll < 0.85 || full) {
        await this.#delete(tx, table.name, id);
        if (this.#rng.chance(0.3)) await this.#insert(tx, table.name, id, this.#newTag(), true); // same key again, same transaction
      } else {
        const again = live.dead.pop();
        if (again !== undefined && !live.has(again))
          await this.#insert(tx, table.name, again, this.#newTag(), true); // same key again, later
        else await this.#update(tx, table.name, id);
      }
    }
  }

  #newIdentity(table: WorkloadTable): string {
    // keyless rows are told apart by n, which is their first tag
    return table.keyless ? String(this.#tag + 1) : String(this.#nextId++);
  }

  /** Column values for a new row, as SQL placeholders and parameters (the matrix tables use their edge-value rows). */
  #values(table: WorkloadTable, id: string, tag: string): { sql: string; params: unknown[] } {
    switch (table.name) {
      case 'ck': {
        // a re-insert keeps the row's whole key (ka, kb, id): the same Kafka key and document id
        const [ka, kb] = this.#ckKeys.get(id) ?? [
          this.#rng.pick(['0', '1', '4294967295', String(this.#rng.int(0, 4294967295))]),
          this.#rng.pick(['0', '18446744073709551615', '9223372036854775808', String(this.#rng.int(0, 2 ** 31)) + String(this.#rng.int(0, 2 ** 31))]),
        ];
        this.#ckKeys.set(id, [ka, kb]);
        return { sql: '(id, ka, kb, v, n) VALUES (?, ?, ?, ?, ?)', params: [id, ka, kb, `v${tag} ✓`, tag] };
      }
      case 'evolve': {
        const names = table.columns.filter((c) => c.name !== 'n').map((c) => c.name);
        const params = names.map((name) => (name === 'a' ? this.#rng.int(-(2 ** 31), 2 ** 31 - 1) : `${name}${tag}`));
        return { sql: `(id, ${names.join(', ')}, n) VALUES (?, ${names.map(() => '?').join(', ')}, ?)`, params: [id, ...params, tag] };
      }
      case 'big':
        return { sql: '(id, pad, n) VALUES (?, ?, ?)', params: [id, `pad${tag}`, tag] };
      case 'nokey':
        return { sql: '(n, v) VALUES (?, ?)', params: [id, `v${tag}`] };
      default: {
        const names = table.columns.filter((c) => c.name !== 'n').map((c) => `\`${c.name}\``);
        return { sql: `(id, ${names.join(', ')}, n) VALUES (?, ${this.#rng.pick(table.rows)}, ?)`, params: [id, tag] };
      }
    }
  }

  async #insert(tx: Tx, name: string, id: string, tag: string, random: boolean): Promise<void> {
    const table = this.table(name);
    const live = this.#live.get(name)!;
    const { sql, params } = random ? this.#values(table, id, tag) : { sql: '(id, n) VALUES (?, ?)', params: [id, tag] };
    await tx.conn.query(`INSERT INTO ${name} ${sql}`, params);
    // a keyless row's tag is its v, set from the same counter
    const rowTag = table.keyless ? `v${tag}` : tag;
    this.#change(
      tx,
      name,
      id,
      'c',
      rowTag,
      () => live.add(id, rowTag),
      () => live.remove(id),
    );
  }

  async #update(tx: Tx, name: string, id: string): Promise<void> {
    const table = this.table(name);
    const live = this.#live.get(name)!;
    const tag = this.#newTag();
    if (table.keyless) {
      await tx.conn.query('UPDATE nokey SET v = ? WHERE n = ?', [`v${tag}`, id]);
      this.#retag(tx, name, id, `v${tag}`);
      return;
    }
    if (MATRIX.some((m) => m.name === name)) {
      // every plain column copied from another live row (or itself), and a new n
      const from = live.random(this.#rng)!;
      const cols = table.columns.filter((c) => !c.key && c.name !== 'n' && !/ AS \(/.test(c.ddl)).map((c) => `a.\`${c.name}\` = b.\`${c.name}\``);
      await tx.conn.query(`UPDATE ${name} AS a JOIN ${name} AS b ON b.id = ? SET ${[...cols, 'a.n = ?'].join(', ')} WHERE a.id = ?`, [from, tag, id]);
    } else {
      const cols = table.columns.filter((c) => !c.key && c.name !== 'n');
      const params = cols.map((c) => (c.name === 'a' ? this.#rng.int(-(2 ** 31), 2 ** 31 - 1) : `${c.name}${tag}`));
      await tx.conn.query(`UPDATE ${name} SET ${[...cols.map((c) => `${c.name} = ?`), 'n = ?'].join(', ')} WHERE id = ?`, [...params, tag, id]);
    }
    this.#retag(tx, name, id, tag);
  }

  async #delete(tx: Tx, name: string, id: string): Promise<void> {
    const table = this.table(name);
    const live = this.#live.get(name)!;
    const old = live.tag.get(id)!;
    await tx.conn.query(`DELETE FROM ${name} WHERE ${table.identity} = ?`, [id]);
    this.#change(
      tx,
      name,
      id,
      'd',
      old,
      () => {
        live.remove(id);
        live.dead.push(id);
        if (live.dead.length > 50) live.dead.shift();
      },
      () => {
        const at = live.dead.lastIndexOf(id);
        if (at >= 0) live.dead.splice(at, 1);
        live.add(id, old);
      },
    );
  }
}
