import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { readTopic } from '../helpers/kafka.ts';
import { rootConnection, rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * DDL while a writer runs: columns added, dropped, widened and renamed mid-stream, then a change
 * the subject's BACKWARD level refuses (INT → VARCHAR), which pauses the source with
 * SCHEMA_INCOMPATIBLE until the operator relaxes the level. Every row written before, during and
 * after must end up in Elasticsearch with the right fields.
 */
describe('schema evolution from the binlog, with a concurrent writer', () => {
  const pipeline = new Pipeline(uniqueName('cdc_ddl'));
  const RETRY_MS = 1500;
  let conn: mysql.Connection;
  let writer: Writer;

  before(async () => {
    conn = await pipeline.createDatabase("CREATE TABLE evolve (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT DEFAULT 5, note VARCHAR(10) DEFAULT 'n')");
    // STATUS_DETAIL=full: the test reads the error's message and details, which /status withholds by default.
    await pipeline.startSource({ SCHEMA_RETRY_INTERVAL_MS: String(RETRY_MS), STATUS_DETAIL: 'full' });
    await pipeline.startSink();
    writer = await Writer.start(pipeline.database);
  });

  after(async () => {
    await writer?.stop();
    await pipeline.stopAll();
    await conn?.end();
  });

  it('follows ADD, DROP, widened VARCHAR and RENAME without losing a row', async () => {
    await writer.written(50);
    await conn.query('ALTER TABLE evolve ADD COLUMN extra VARCHAR(30) NULL');
    await conn.query("UPDATE evolve SET extra = CONCAT('e', id) WHERE id % 3 = 0");
    await writer.written(100);
    await conn.query("UPDATE evolve SET note = 'last' WHERE id % 4 = 0");
    await conn.query('ALTER TABLE evolve DROP COLUMN note');
    await writer.written(150);
    await conn.query('ALTER TABLE evolve MODIFY name VARCHAR(200) NOT NULL');
    writer.longNames = true;
    await writer.written(200);
    await conn.query('ALTER TABLE evolve RENAME COLUMN qty TO quantity');
    await conn.query('UPDATE evolve SET quantity = id WHERE id % 5 = 0');
    await writer.written(250);
    await waitForEqual(conn, pipeline.indexOf('evolve'));

    const docs = await dumpIndex(pipeline.indexOf('evolve'));
    const latest = [...docs.values()].filter((d) => 'quantity' in d.source);
    assert.ok(latest.length > 0 && latest.every((d) => !('note' in d.source) && 'extra' in d.source), 'rows written after the DDL carry the new columns only');
    assert.ok(
      [...docs.values()].some((d) => String(d.source.name).length > 20),
      'a name longer than the old width arrived',
    );
    const mapping = (await es('GET', `/${pipeline.indexOf('evolve')}/_mapping`)).body as Record<string, { mappings: { properties: Record<string, { type: string }> } }>;
    const properties = Object.values(mapping)[0]!.mappings.properties;
    assert.equal(properties.extra?.type, 'text', 'the added column was mapped');
    assert.equal(properties.quantity?.type, 'integer', 'the renamed column was mapped');
  });

  it('pauses on an incompatible change (INT → VARCHAR under BACKWARD), holds its position, and resumes when the operator relaxes the level', async () => {
    const source = pipeline.source!;
    await conn.query('ALTER TABLE evolve MODIFY quantity VARCHAR(20)');
    // Every id above this one was inserted after the DDL (some at or below it may be too).
    const afterDdl = Number((await rows(conn, 'SELECT MAX(id) AS n FROM evolve'))[0]!.n);
    await conn.query("UPDATE evolve SET quantity = CONCAT(quantity, '') WHERE id % 7 = 0");
    await writer.written(afterDdl + 30);

    const status = await waitFor(
      'the source to pause with SCHEMA_INCOMPATIBLE',
      async () => {
        const answer = JSON.parse((await source.http('/status')).body) as { state: string; lastError: { code: string; message: string; details: { table: string; columns: string[] } } | null };
        return answer.state === 'paused' && answer.lastError?.code === 'SCHEMA_INCOMPATIBLE' ? answer : undefined;
      },
      120_000,
      500,
    );
    assert.equal(status.lastError!.details.table, `${pipeline.database}.evolve`);
    assert.ok(
      status.lastError!.details.columns.some((c) => c.startsWith('quantity:')),
      `names the column: ${status.lastError!.details.columns.join('; ')}`,
    );
    assert.match(status.lastError!.message, /409/, 'carries the registry answer');
    const ready = await source.http('/readyz');
    assert.equal(ready.status, 503);
    assert.match(ready.body, /SCHEMA_INCOMPATIBLE/);
    assert.ok(
      source.lines.some((l) => /source paused/.test(String(l.msg)) && JSON.stringify(l.err).includes('quantity')),
      'the log names the table, column and answer',
    );

    // Held: it stays alive and retries, and no change after the DDL reaches Kafka.
    const pausedLines = () => source.lines.filter((l) => /source paused/.test(String(l.msg))).length;
    const firstCount = pausedLines();
    await waitFor('the source to retry while paused', () => pausedLines() >= firstCount + 2, 60_000, 200);
    assert.equal(source.child.exitCode, null, 'the source process is still running');
    const records = await readTopic(pipeline.topicOf('evolve'));
    const ids = records.filter((r) => r.decodedValue).map((r) => Number(r.decodedKey?.id));
    assert.ok(
      ids.every((id) => id <= afterDdl),
      'no row inserted after the incompatible DDL was committed',
    );
    const quantities = records.map((r) => (r.decodedValue?.after as Record<string, unknown> | null)?.quantity);
    assert.ok(!quantities.some((q) => typeof q === 'string'), 'no change with the VARCHAR quantity was committed');

    // The operator's action: let this subject accept the change (docs/schema-evolution.md). On a
    // Confluent registry that is PUT /config/<subject> NONE; Apicurio maps a subject-level NONE to
    // "no rule of its own", so the global BACKWARD would still apply: its own API sets the rule.
    const subject = `${pipeline.topicOf('evolve')}-value`;
    const apicurio = stackEnv().SCHEMA_REGISTRY_URL.replace(/\/apis\/ccompat\/v7\/?$/, '/apis/registry/v3');
    const rule = await fetch(`${apicurio}/groups/default/artifacts/${encodeURIComponent(subject)}/rules/COMPATIBILITY`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ruleType: 'COMPATIBILITY', config: 'NONE' }),
    });
    assert.equal(rule.status, 200, await rule.text());
    await waitFor('the source to stream again', async () => (JSON.parse((await source.http('/status')).body) as { state: string }).state === 'streaming', 60_000, 500);
    assert.equal((await source.http('/readyz')).status, 200);
    await writer.written(afterDdl + 60);
    await writer.stop();
    await waitForEqual(conn, pipeline.indexOf('evolve'));
  });
});

/** Inserts rows and updates earlier ones on its own connection until stopped. */
class Writer {
  longNames = false;
  #next = 1;
  #stopped = false;
  #loop: Promise<void> = Promise.resolve();
  readonly #conn: mysql.Connection;

  private constructor(conn: mysql.Connection) {
    this.#conn = conn;
  }

  static async start(database: string): Promise<Writer> {
    const writer = new Writer(await rootConnection(database));
    writer.#loop = writer.#run();
    return writer;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const id = this.#next;
      const name = this.longNames ? `long name ${id} ${'x'.repeat(120)}` : `n${id}`;
      await this.#conn.query('INSERT INTO evolve (id, name) VALUES (?, ?)', [id, name]);
      this.#next = id + 1;
      if (id % 4 === 0) await this.#conn.query('UPDATE evolve SET name = CONCAT(name, ?) WHERE id = ?', ['+', id - 3]);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Waits until at least `count` rows were inserted. */
  async written(count: number): Promise<void> {
    await waitFor(`the writer to insert ${count} rows`, () => this.#next > count, 120_000, 20);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
    await this.#conn.end().catch(() => undefined);
  }
}

/**
 * Elasticsearch equals the table row by row: every current column equal to the SELECT value,
 * where a document last written before a RENAME may still hold the old name (`qty`) and one
 * written before an ADD may lack the (then null) column; dropped columns may remain.
 */
async function waitForEqual(conn: mysql.Connection, index: string): Promise<void> {
  await waitFor(
    'Elasticsearch to equal MariaDB row by row',
    async () => {
      const table = await rows(conn, 'SELECT * FROM evolve');
      const docs = await dumpIndex(index);
      const problems: string[] = [];
      for (const row of table) {
        const doc = docs.get(String(row.id))?.source;
        if (!doc) {
          problems.push(`row ${String(row.id)} missing`);
          continue;
        }
        for (const [column, value] of Object.entries(row)) {
          const want = value === null ? null : String(value);
          const got = column in doc ? doc[column] : column === 'quantity' ? doc.qty : null;
          if ((got === null || got === undefined ? null : String(got)) !== want) problems.push(`row ${String(row.id)} ${column}: ${JSON.stringify(got)} != ${JSON.stringify(want)}`);
        }
        const unknown = Object.keys(doc).filter((k) => !(k in row) && k !== 'note' && k !== 'qty');
        if (unknown.length > 0) problems.push(`row ${String(row.id)}: unexpected ${unknown.join(',')}`);
      }
      if (docs.size !== table.length) problems.push(`${docs.size} documents for ${table.length} rows`);
      if (problems.length > 0) throw new Error(`${problems.length} differences, first: ${problems.slice(0, 3).join('; ')}`);
      return true;
    },
    180_000,
    1000,
  );
}
