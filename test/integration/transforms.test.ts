import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { readTopic } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { registeredSubjects } from '../helpers/registry.ts';
import { runCli, uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const DDL = `
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40), status VARCHAR(10), balance DECIMAL(10,2), internal VARCHAR(40));
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(10,2));`;

/**
 * A chain of six transforms on the source and two on the sink, end to end through the real
 * services: the documents are exactly what the chain says, the routed topic has its own registry
 * subjects, and an invalid chain is refused at start with every problem listed.
 */
describe('transform chains end to end', () => {
  const pipeline = new Pipeline(uniqueName('cdc_smt'));
  const routed = (table: string) => `${pipeline.prefix}.crm.${table}`;
  const index = (table: string) => `${pipeline.prefix}_crm_${table}`;
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    const db = pipeline.database;
    // SNAPSHOT_MODE=initial (of empty tables): streaming starts at the read view's position, so
    // no change made once the source is ready can fall before a binlog reader started at `latest`.
    await pipeline.startSource({
      SNAPSHOT_MODE: 'initial',
      TRANSFORMS: 'route,notBanned,hide,rename,stamp,money',
      TRANSFORMS_ROUTE_TYPE: 'route',
      TRANSFORMS_ROUTE_REGEX: `${pipeline.prefix}\\.${db}\\.(.*)`,
      TRANSFORMS_ROUTE_REPLACEMENT: `${pipeline.prefix}.crm.$1`,
      TRANSFORMS_NOTBANNED_TYPE: 'filter',
      TRANSFORMS_NOTBANNED_TABLES: `${db}\\.customers`,
      TRANSFORMS_NOTBANNED_FIELD: 'status',
      TRANSFORMS_NOTBANNED_OPERATOR: 'ne',
      TRANSFORMS_NOTBANNED_VALUE: 'banned',
      TRANSFORMS_HIDE_TYPE: 'drop',
      TRANSFORMS_HIDE_FIELDS: 'internal',
      TRANSFORMS_RENAME_TYPE: 'rename',
      TRANSFORMS_RENAME_RENAMES: 'name:full_name',
      TRANSFORMS_STAMP_TYPE: 'insert',
      TRANSFORMS_STAMP_STATIC_FIELD: 'region',
      TRANSFORMS_STAMP_STATIC_VALUE: 'eu-west',
      TRANSFORMS_STAMP_POSITION_FIELD: 'src_pos',
      TRANSFORMS_MONEY_TYPE: 'cast',
      TRANSFORMS_MONEY_SPEC: 'balance:float64',
    });
    await pipeline.startSink({
      TRANSFORMS: 'router,tag',
      TRANSFORMS_ROUTER_TYPE: 'index_router',
      TRANSFORMS_ROUTER_REGEX: `${pipeline.prefix}\\.crm\\.(.*)`,
      TRANSFORMS_ROUTER_INDEX: '{prefix}_crm_$1',
      TRANSFORMS_TAG_TYPE: 'insert',
      TRANSFORMS_TAG_STATIC_FIELD: 'indexed_by',
      TRANSFORMS_TAG_STATIC_VALUE: 'sink-1',
    });
    for (let id = 1; id <= 30; id++) {
      await conn.query('INSERT INTO customers VALUES (?, ?, ?, ?, ?)', [id, `name ${id}`, id % 3 === 0 ? 'banned' : 'active', `${id}.25`, `internal ${id}`]);
      await conn.query('INSERT INTO orders VALUES (?, ?, ?)', [id, id, `${id * 2}.50`]);
    }
    await conn.query("UPDATE customers SET status = 'active', name = 'pardoned' WHERE id = 3");
    await conn.query('DELETE FROM customers WHERE id = 4');
    await waitFor(
      'both routed indices to be complete',
      async () => (await dumpIndex(index('orders')).catch(() => new Map())).size === 30 && (await dumpIndex(index('customers')).catch(() => new Map())).get('3')?.source.full_name === 'pardoned',
      180_000,
      1000,
    );
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('indexes exactly what the chain makes of each row', async () => {
    const customers = await dumpIndex(index('customers'));
    const kept = (await rows(conn, 'SELECT * FROM customers ORDER BY id')).filter((r) => r.status !== 'banned');
    assert.deepEqual([...customers.keys()].sort(), kept.map((r) => String(r.id)).sort(), 'banned customers filtered, the deleted one gone');
    for (const row of kept) {
      const doc = customers.get(String(row.id))!.source;
      assert.match(String(doc.src_pos), /^[\w.-]+\.\d+:\d+#\d+$/);
      assert.deepEqual(
        { ...doc, src_pos: undefined },
        { id: row.id, full_name: row.name, status: row.status, balance: Number(row.balance), region: 'eu-west', src_pos: undefined, indexed_by: 'sink-1' },
        `customer ${String(row.id)}`,
      );
    }
    const orders = await dumpIndex(index('orders'));
    for (const row of await rows(conn, 'SELECT * FROM orders')) {
      const doc = orders.get(String(row.id))!.source;
      assert.deepEqual({ ...doc, src_pos: undefined }, { id: row.id, customer_id: row.customer_id, amount: row.amount, region: 'eu-west', src_pos: undefined, indexed_by: 'sink-1' });
    }
  });

  it('registers the schemas under the routed topic, with the transformed fields and types, and maps them', async () => {
    const registry = stackEnv().SCHEMA_REGISTRY_URL;
    // Under the routed topics only, none under the tables' own topics.
    const candidates = ['customers', 'orders'].flatMap((table) => [routed(table), pipeline.topicOf(table)]).flatMap((topic) => [`${topic}-key`, `${topic}-value`]);
    assert.deepEqual(await registeredSubjects(candidates), [`${routed('customers')}-key`, `${routed('customers')}-value`, `${routed('orders')}-key`, `${routed('orders')}-value`]);
    const latest = (await (await fetch(`${registry}/subjects/${routed('customers')}-value/versions/latest`)).json()) as { schema: string };
    const value = ((JSON.parse(latest.schema) as { fields: Array<{ name: string; type: unknown }> }).fields[0]!.type as [string, { fields: Array<{ name: string; type: unknown }> }])[1];
    assert.deepEqual(
      value.fields.map((f) => [f.name, f.type]),
      [
        ['id', 'int'],
        ['full_name', ['null', 'string']],
        ['status', ['null', 'string']],
        ['balance', ['null', 'double']],
        ['region', ['null', 'string']],
        ['src_pos', ['null', 'string']],
      ],
    );
    const mapping = (await es('GET', `/${index('customers')}/_mapping`)).body as Record<string, { mappings: { properties: Record<string, { type?: string }> } }>;
    const properties = mapping[index('customers')]!.mappings.properties;
    assert.equal(properties.balance?.type, 'double');
    assert.equal(properties.indexed_by?.type, 'text');
    assert.equal(properties.name, undefined, 'no mapping for the renamed-away column');
  });

  it('refuses an invalid chain at start, listing every problem, on both sides', async () => {
    const source = await runCli(['source'], {
      SOURCE_ID: 'x',
      MYSQL_HOST: '127.0.0.1',
      MYSQL_USER: 'x',
      KAFKA_BROKERS: '127.0.0.1:1',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
      TRANSFORMS: 'route,keep',
      TRANSFORMS_ROUTE_TYPE: 'route',
      TRANSFORMS_ROUTE_REGEXP: 'x',
      TRANSFORMS_KEEP_TYPE: 'fliter',
      TRANSFORMS_ROUTER_TYPE: 'index_router',
    });
    assert.equal(source.status, 2, source.stderr);
    for (const problem of [
      /TRANSFORMS_ROUTE_REGEXP: unknown option of route/,
      /TRANSFORMS_ROUTE_REGEX: is required/,
      /TRANSFORMS_ROUTE_REPLACEMENT: is required/,
      /TRANSFORMS_KEEP_TYPE: unknown transform type "fliter"/,
      /TRANSFORMS_ROUTER_TYPE: belongs to no transform listed in TRANSFORMS/,
    ]) {
      assert.match(source.stderr, problem);
    }
    assert.match(source.stderr, /CONFIG_INVALID: Invalid configuration \(5 problems\)/);
    const sink = await runCli(['sink'], {
      KAFKA_BROKERS: '127.0.0.1:1',
      SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1',
      ELASTICSEARCH_URL: 'http://127.0.0.1:1',
      TRANSFORMS: 'c',
      TRANSFORMS_C_TYPE: 'cast',
      TRANSFORMS_C_SPEC: 'a:decimal',
    });
    assert.equal(sink.status, 2, sink.stderr);
    assert.match(sink.stderr, /TRANSFORMS_C_SPEC: "a:decimal" is not a valid column:type pair/);
  });
});

/** unwrap: flat rows with change metadata in a routed topic, readable by any Avro consumer. */
describe('unwrap end to end', () => {
  const pipeline = new Pipeline(uniqueName('cdc_flat'));
  const flatTopic = `${pipeline.prefix}.flat.customers`;
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await pipeline.startSource({
      SNAPSHOT_MODE: 'initial',
      TRANSFORMS: 'route,unwrap',
      TRANSFORMS_ROUTE_TYPE: 'route',
      TRANSFORMS_ROUTE_REGEX: `${pipeline.prefix}\\.${pipeline.database}\\.(.*)`,
      TRANSFORMS_ROUTE_REPLACEMENT: `${pipeline.prefix}.flat.$1`,
      TRANSFORMS_UNWRAP_TYPE: 'unwrap',
      TRANSFORMS_UNWRAP_FIELDS: 'op,table,source_ts_ms',
    });
    await conn.query("INSERT INTO customers VALUES (1, 'Ada', 'active', '1.50', 'x'), (2, 'Bob', 'active', '2.50', 'y')");
    await conn.query("UPDATE customers SET status = 'gone' WHERE id = 1");
    await conn.query('DELETE FROM customers WHERE id = 2');
    await waitFor('the flat topic to hold every change', async () => (await readTopic(flatTopic)).length === 5, 120_000, 1000);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('writes each change as the row plus metadata, a rewritten delete and its tombstone', async () => {
    const records = await readTopic(flatTopic);
    const values = records.map((r) => r.decodedValue && { ...r.decodedValue, __source_ts_ms: typeof r.decodedValue.__source_ts_ms });
    const row = (id: number, name: string, status: string, balance: string, internal: string) => ({ id, name, status, balance, internal, __table: 'customers', __source_ts_ms: 'bigint' });
    assert.deepEqual(values, [
      { ...row(1, 'Ada', 'active', '1.50', 'x'), __op: 'c', __deleted: false },
      { ...row(2, 'Bob', 'active', '2.50', 'y'), __op: 'c', __deleted: false },
      { ...row(1, 'Ada', 'gone', '1.50', 'x'), __op: 'u', __deleted: false },
      { ...row(2, 'Bob', 'active', '2.50', 'y'), __op: 'd', __deleted: true },
      null,
    ]);
    assert.deepEqual(
      records.map((r) => ({ ...r.decodedKey })),
      [{ id: 1 }, { id: 2 }, { id: 1 }, { id: 2 }, { id: 2 }],
    );
  });
});

/**
 * A `matches` filter with a pattern that backtracks catastrophically in JavaScript's engine
 * (`(a+)+b` over a megabyte of `a`s is exponential) cannot stall the source: the filter runs it
 * in RE2, in time linear in the value, and the changes after the big row arrive promptly.
 */
describe('filter with a catastrophic pattern over a 1 MB value', () => {
  const pipeline = new Pipeline(uniqueName('cdc_redos'));
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase('CREATE TABLE notes (id INT PRIMARY KEY, body LONGTEXT);');
    await pipeline.startSource({
      SNAPSHOT_MODE: 'initial',
      TRANSFORMS: 'onlyAb',
      TRANSFORMS_ONLYAB_TYPE: 'filter',
      TRANSFORMS_ONLYAB_FIELD: 'body',
      TRANSFORMS_ONLYAB_OPERATOR: 'matches',
      TRANSFORMS_ONLYAB_VALUE: '(a+)+b',
    });
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('filters the megabyte row out and passes the next rows within seconds', async () => {
    const started = Date.now();
    await conn.query('INSERT INTO notes VALUES (1, ?)', ['a'.repeat(1024 * 1024)]);
    await conn.query("INSERT INTO notes VALUES (2, 'aaab'), (3, 'ab'), (4, 'abc')");
    await waitFor('rows 2 and 3 in the topic', async () => (await readTopic(pipeline.topicOf('notes'))).length >= 2, 60_000, 500);
    const seconds = (Date.now() - started) / 1000;
    const ids = (await readTopic(pipeline.topicOf('notes'))).map((r) => (r.decodedKey as { id: number }).id);
    assert.deepEqual(ids, [2, 3], 'the 1 MB row and the non-matching row are filtered out');
    assert.equal((await pipeline.source!.http('/healthz')).status, 200);
    process.stderr.write(`catastrophic pattern: past the 1 MB row in ${seconds.toFixed(1)} s\n`);
  });
});
