import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { type ConnectConverter, type ConnectWorker, freshPgDatabase, installConnect, jdbcSinkConnector, pgRows, startConnect } from '../helpers/connect.ts';
import { testKafka } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { GiveUp, waitFor } from '../helpers/wait.ts';

/**
 * A drop-in for Debezium: Kafka Connect 4.1.1 with Debezium's own JDBC sink connector reads our
 * topics, through Connect's JsonConverter and through the registry with an Avro converter, and
 * writes PostgreSQL. PostgreSQL is compared with MariaDB row by row after inserts, after updates
 * and deletes (delete.enabled: the delete event and its tombstone), and after a column is added.
 *
 * The columns are the type matrix's tricky types that the JDBC sink can write to PostgreSQL.
 * Left out, and why:
 * - GEOMETRY: the sink writes io.debezium.data.geometry.Geometry only into PostGIS, which this
 *   PostgreSQL does not have (the extension is not installed).
 * - TIME beyond 00:00–24:00 (MariaDB allows −838:59:59…838:59:59): PostgreSQL's `time` cannot
 *   hold it, the sink fails the record.
 * - zero dates (`0000-00-00`): no PostgreSQL date exists for them; the source turns them into
 *   null or a sentinel (ZERO_DATES) before any sink sees them.
 * - BIT(n > 1): the sink's PostgreSQL binding reads io.debezium.data.Bits as a big-endian signed
 *   integer, while Debezium's MySQL/MariaDB connectors (and we) write its bytes little-endian, so
 *   multi-byte values land wrong for Debezium's own topics too (BIT(1), a boolean, is compared).
 * - DECIMAL with a precision above 38: the sink creates the column as numeric(38, scale), and a
 *   wider value fails the insert; DECIMAL(38, 12) is compared.
 */
const DDL = `CREATE TABLE items (
  id BIGINT PRIMARY KEY,
  ti TINYINT,
  su SMALLINT UNSIGNED,
  iu INT UNSIGNED,
  bu BIGINT UNSIGNED,
  d DECIMAL(38,12),
  f FLOAT,
  dbl DOUBLE,
  b1 BIT(1),
  s VARCHAR(60) CHARACTER SET utf8mb4,
  e ENUM('red','green','blue'),
  st SET('a','b','c'),
  bin VARBINARY(16),
  dt DATE,
  tm TIME(6),
  dtm DATETIME(6),
  ts TIMESTAMP(6) NULL,
  y YEAR,
  j JSON
)`;

const INSERTS = `INSERT INTO items VALUES
  (9223372036854775807, -128, 65535, 4294967295, 18446744073709551615, '-12345678901234567890123456.123456789012',
   1.5, 1.7976931348623157e308, 1, 'ünïcødé 😀 "q" \\\\ x', 'blue', 'a,c', X'00FF10', '1000-01-01', '23:59:59.999999',
   '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', 2155, '{"n": 12345678901234567890, "a": [1, "x"]}'),
  (-9223372036854775808, 127, 0, 0, 0, '0.000000000001',
   -0.25, -2.5e-300, 0, '', 'red', '', X'', '1970-01-01', '00:00:00',
   '1000-01-01 00:00:00', '1970-01-01 00:00:01', 1901, '[]'),
  (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (2, 1, 2, 3, 4, '5.5', 6, 7, 1, 'two', 'green', 'b', X'02', '2024-02-29', '12:34:56.5', '2024-02-29 12:34:56.5', '2024-02-29 12:34:56.5', 2024, '{"k": "v"}'),
  (3, 3, 3, 3, 3, '3', 3, 3, 0, 'three', 'blue', 'a,b,c', X'03', '2003-03-03', '03:03:03', '2003-03-03 03:03:03', '2003-03-03 03:03:03', 2003, '3')`;

const CHANGES = `UPDATE items SET s = 'updated', d = '-0.5', dtm = '2001-02-03 04:05:06.000007', j = '{"u": true}', e = NULL WHERE id = 2;
  UPDATE items SET ti = -1, b1 = 1, tm = '01:02:03.000004' WHERE id = 1;
  DELETE FROM items WHERE id = 3;
  DELETE FROM items WHERE id = -9223372036854775808`;

const SCHEMA_CHANGE = `ALTER TABLE items ADD COLUMN note VARCHAR(40) NULL;
  INSERT INTO items (id, s, note, dt) VALUES (4, 'after the change', 'new column', '2024-12-31');
  UPDATE items SET note = 'set later' WHERE id = 2`;

/**
 * Each column on both sides as comparable text: MariaDB's own rendering against PostgreSQL's
 * (both with UTC sessions), normalised where the two render one value differently.
 */
type Column = { mysql: string; pg: string; normalise?: (v: string) => string };
const asText = (name: string): Column => ({ mysql: `CAST(${name} AS CHAR)`, pg: `${name}::text` });
const COLUMNS: Record<string, Column> = {
  id: asText('id'),
  ti: asText('ti'),
  su: asText('su'),
  iu: asText('iu'),
  bu: asText('bu'),
  d: asText('d'),
  f: { mysql: 'CAST(f AS CHAR)', pg: 'f::text', normalise: (v) => String(Number(v)) },
  dbl: { mysql: 'CAST(dbl AS CHAR)', pg: 'dbl::text', normalise: (v) => String(Number(v)) },
  b1: { mysql: 'CAST(b1 + 0 AS CHAR)', pg: 'b1::int::text' },
  s: { mysql: 's', pg: 's' },
  e: { mysql: 'e', pg: 'e::text' },
  st: { mysql: 'st', pg: 'st::text' },
  bin: { mysql: 'LOWER(HEX(bin))', pg: "encode(bin, 'hex')" },
  dt: asText('dt'),
  tm: { mysql: "TIME_FORMAT(tm, '%H:%i:%s.%f')", pg: "to_char(tm, 'HH24:MI:SS.US')" },
  dtm: { mysql: "DATE_FORMAT(dtm, '%Y-%m-%d %H:%i:%s.%f')", pg: "to_char(dtm, 'YYYY-MM-DD HH24:MI:SS.US')" },
  ts: { mysql: "DATE_FORMAT(ts, '%Y-%m-%d %H:%i:%s.%f')", pg: "to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')" },
  y: asText('y'),
  j: { mysql: 'j', pg: 'j::text', normalise: (v) => JSON.stringify(JSON.parse(v)) },
};

async function mariadbRows(conn: mysql.Connection, columns: string[]): Promise<Array<Record<string, string | null>>> {
  const select = columns.map((c) => `${COLUMNS[c]?.mysql ?? c} AS \`${c}\``).join(', ');
  return normalised(await rows(conn, `SELECT ${select} FROM items ORDER BY id`), columns);
}

async function postgresRows(database: string, table: string, columns: string[]): Promise<Array<Record<string, string | null>>> {
  const select = columns.map((c) => `${COLUMNS[c]?.pg ?? c} AS "${c}"`).join(', ');
  return normalised(await pgRows(database, `SELECT ${select} FROM "${table}" ORDER BY id`), columns);
}

function normalised(list: Array<Record<string, unknown>>, columns: string[]): Array<Record<string, string | null>> {
  return list.map((row) => Object.fromEntries(columns.map((c) => [c, row[c] === null || row[c] === undefined ? null : (COLUMNS[c]?.normalise ?? String)(String(row[c]))])));
}

/** Waits until PostgreSQL holds exactly MariaDB's rows, then asserts it (the last difference is the message). */
async function assertSameRows(conn: mysql.Connection, pgDatabase: string, table: string, columns: string[], worker: ConnectWorker, connector: string, what: string) {
  const expected = await mariadbRows(conn, columns);
  let actual: Array<Record<string, string | null>> = [];
  let gaveUp: unknown;
  try {
    await waitFor(
      `PostgreSQL to match MariaDB ${what}`,
      async () => {
        const status = await worker.status(connector);
        const failed = status.tasks.find((t) => t.state === 'FAILED');
        if (failed) throw new GiveUp(`the JDBC sink task failed: ${failed.trace?.split('\n').slice(0, 3).join(' ')}`);
        actual = await postgresRows(pgDatabase, table, columns).catch(() => []);
        return JSON.stringify(actual) === JSON.stringify(expected) || undefined;
      },
      120_000,
      500,
    );
  } catch (error) {
    gaveUp = error;
  }
  assert.deepEqual(actual, expected, `${what}: ${gaveUp instanceof Error ? gaveUp.message : 'equal'} (Connect log: ${worker.log})`);
}

async function topics(): Promise<string[]> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    return await admin.listTopics();
  } finally {
    await admin.disconnect();
  }
}

for (const converter of ['json', 'avro'] satisfies ConnectConverter[]) {
  describe(`Kafka Connect reads our topics (${converter}): Debezium's JDBC sink writes PostgreSQL`, () => {
    const pipeline = new Pipeline(`connect_${converter}`);
    const pgDatabase = `cdc_connect_${converter}`;
    const connector = `pg-sink-${converter}`;
    let home: string;
    let conn: mysql.Connection;
    let worker: ConnectWorker | undefined;

    before(async () => {
      home = installConnect();
      await freshPgDatabase(pgDatabase);
      conn = await pipeline.createDatabase(DDL);
      await pipeline.startSource({ VALUE_CONVERTER: converter, ...(converter === 'json' ? { SCHEMA_REGISTRY_URL: '' } : {}) });
    });

    after(async () => {
      await worker?.stop();
      await pipeline.stopAll();
      await conn?.end();
    });

    it('inserts, updates, deletes (with tombstones) and an added column arrive row for row', async () => {
      const columns = Object.keys(COLUMNS);
      await conn.query(INSERTS);
      // The topic exists once the source wrote the first change (the stack's Kafka creates no topics by itself).
      await waitFor('the source to create the topic', async () => (await topics()).includes(pipeline.topicOf('items')) || undefined, 60_000);
      worker = await startConnect(home, converter, jdbcSinkConnector(connector, pipeline.topicOf('items'), pgDatabase, 'items'));
      await assertSameRows(conn, pgDatabase, 'items', columns, worker, connector, 'after the inserts');
      await conn.query(CHANGES);
      await assertSameRows(conn, pgDatabase, 'items', columns, worker, connector, 'after updates and deletes');
      await conn.query(SCHEMA_CHANGE);
      await assertSameRows(conn, pgDatabase, 'items', [...columns, 'note'], worker, connector, 'after a column was added');
    });
  });
}
