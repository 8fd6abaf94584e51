import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { testKafka } from '../helpers/kafka.ts';
import { rows } from '../helpers/mysql.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { registeredSubjects } from '../helpers/registry.ts';
import { uniqueName } from '../helpers/services.ts';
import { stackEnv } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const SALT = 'SALT-never-in-clear-7f3a';
/** Every clear-text value that must never leave MariaDB. */
const SECRETS = ['MAIL-SECRET', 'SSN-SECRET', 'NOTES-TAIL-SECRET', 'INTERNAL-SECRET', 'AUDIT-SECRET', SALT];

const DDL = `
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80), ssn CHAR(20), notes TEXT, internal VARCHAR(40));
CREATE TABLE audit (id INT PRIMARY KEY, detail VARCHAR(80));`;

async function insertCustomers(conn: mysql.Connection, from: number, to: number): Promise<void> {
  for (let id = from; id < to; id++) {
    await conn.query('INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)', [
      id,
      `name ${id}`,
      `MAIL-SECRET-${id}@example.com`,
      `SSN-SECRET-${id}`,
      id % 5 === 0 ? null : `short${id} NOTES-TAIL-SECRET`,
      `INTERNAL-SECRET-${id}`,
    ]);
    await conn.query('INSERT INTO audit VALUES (?, ?)', [id, `AUDIT-SECRET-${id}`]);
  }
}

/**
 * Selection and masking against the real services, for snapshot rows and streamed changes alike:
 * an excluded table and column reach neither Kafka nor the registry, and masked values appear in
 * clear text nowhere: not in Kafka's bytes, the registry, Elasticsearch, logs or /status.
 */
describe('column selection and masking', () => {
  const pipeline = new Pipeline(uniqueName('cdc_mask'));
  const index = pipeline.indexOf('customers');
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase(DDL);
    await insertCustomers(conn, 1, 21);
    const saltFile = join(mkdtempSync(join(tmpdir(), 'cdc-salt-')), 'salt');
    writeFileSync(saltFile, `${SALT}\n`);
    await pipeline.startSource({
      SNAPSHOT_MODE: 'initial',
      TABLE_EXCLUDE: `${pipeline.database}\\.audit`,
      COLUMN_EXCLUDE: '.*\\.internal',
      COLUMN_HASH: '.*\\.customers\\.email',
      COLUMN_HASH_SALT_FILE: saltFile,
      COLUMN_MASK: '.*\\.ssn',
      COLUMN_TRUNCATE: '.*\\.notes',
      COLUMN_TRUNCATE_CHARS: '7',
      LOG_LEVEL: 'debug',
    });
    await pipeline.startSink({ LOG_LEVEL: 'debug' });
    await insertCustomers(conn, 21, 41);
    await conn.query("UPDATE customers SET email = 'MAIL-SECRET-updated@example.com', ssn = NULL WHERE id = 3");
    await conn.query('DELETE FROM customers WHERE id = 4');
    await waitFor('Elasticsearch to hold every customer, masked', async () => (await dumpIndex(index)).size === 39 && (await dumpIndex(index)).get('3')?.source.ssn === null, 180_000, 1000);
  });

  after(async () => {
    await pipeline.stopAll();
    await conn?.end();
  });

  it('indexes every row with hashed, masked and truncated columns and without the excluded one', async () => {
    const docs = await dumpIndex(index);
    const table = await rows(conn, 'SELECT * FROM customers ORDER BY id');
    assert.equal(docs.size, table.length);
    for (const row of table) {
      const expected = {
        id: row.id,
        name: row.name,
        email: createHmac('sha256', SALT).update(String(row.email)).digest('hex'),
        ssn: row.ssn === null ? null : '****',
        notes: row.notes === null ? null : String(row.notes).slice(0, 7),
      };
      assert.deepEqual(docs.get(String(row.id))?.source, expected, `customer ${String(row.id)}`);
    }
  });

  it('never creates a topic or subject for the excluded table, nor a field for the excluded column', async () => {
    const admin = testKafka().admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${pipeline.prefix}.`));
    await admin.disconnect();
    assert.ok(topics.includes(pipeline.topicOf('customers')), topics.join(', '));
    assert.ok(!topics.some((t) => t.includes('audit')), `no audit topic: ${topics.join(', ')}`);
    const registry = stackEnv().SCHEMA_REGISTRY_URL;
    const candidates = ['customers', 'audit'].flatMap((table) => [`${pipeline.topicOf(table)}-key`, `${pipeline.topicOf(table)}-value`]);
    assert.deepEqual(await registeredSubjects(candidates), [`${pipeline.topicOf('customers')}-key`, `${pipeline.topicOf('customers')}-value`]);
    const latest = (await (await fetch(`${registry}/subjects/${pipeline.topicOf('customers')}-value/versions/latest`)).json()) as { schema: string };
    assert.ok(!latest.schema.includes('internal'), 'the excluded column is not in the registered schema');
    const fields = (JSON.parse(latest.schema) as { fields: Array<{ name: string; type: unknown }> }).fields;
    const value = (fields.find((f) => f.name === 'before')!.type as [string, { fields: Array<{ name: string; type: unknown }> }])[1];
    assert.deepEqual(value.fields.find((f) => f.name === 'email')!.type, ['null', 'string']);
  });

  it('leaves no clear-text secret in any topic of the pipeline, the index, the logs or /status', async () => {
    const admin = testKafka().admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(`${pipeline.prefix}.`));
    await admin.disconnect();
    let bytes = 0;
    const leaks: string[] = [];
    for (const topic of topics) {
      await readTopicToEnd(testKafka(), topic, (message) => {
        const text = Buffer.concat([message.key ?? Buffer.alloc(0), message.value ?? Buffer.alloc(0)]).toString('latin1');
        bytes += text.length;
        for (const secret of SECRETS) if (text.includes(secret)) leaks.push(`${topic}@${message.offset}: ${secret}`);
      });
    }
    assert.ok(bytes > 1000, `read the topics (${bytes} bytes)`);
    const indexText = JSON.stringify([...(await dumpIndex(index)).values()].map((d) => d.source));
    for (const secret of SECRETS) if (indexText.includes(secret)) leaks.push(`index: ${secret}`);
    const logs = [...pipeline.source!.lines, ...pipeline.sink!.lines].map((l) => l.raw).join('\n');
    assert.ok(logs.length > 1000, 'the services logged (debug level)');
    for (const secret of SECRETS) if (logs.includes(secret)) leaks.push(`logs: ${secret}`);
    const status = (await pipeline.source!.http('/status')).body;
    assert.match(status, /"COLUMN_HASH_SALT":\s*"\[redacted\]"/);
    for (const secret of SECRETS) if (status.includes(secret)) leaks.push(`/status: ${secret}`);
    assert.deepEqual(leaks, []);
  });
});
