import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { readTopicToEnd } from '../../src/core/topic-reader.ts';
import { dumpIndex } from '../helpers/elasticsearch.ts';
import { testKafka } from '../helpers/kafka.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { startService, uniqueName, type ServiceProcess } from '../helpers/services.ts';
import { waitFor, within } from '../helpers/wait.ts';

/** The NAME_COLLISION log line of a service that stopped on it, or undefined. */
function collisionLine(service: ServiceProcess): ServiceProcess['lines'][number] | undefined {
  return service.lines.find((line) => line.code === 'NAME_COLLISION' || line.raw.includes('"NAME_COLLISION"'));
}

async function stoppedOnCollision(service: ServiceProcess): Promise<string> {
  const code = await within(service.exited, 90_000, 'running' as const);
  assert.notEqual(code, 'running', 'the source stops');
  assert.notEqual(code, 0);
  const line = collisionLine(service);
  assert.ok(line, `a NAME_COLLISION line, got: ${service.lines.map((l) => l.raw).join('\n')}`);
  return line.raw;
}

/** Two tables on one topic or one index, two columns on one Avro field: refused with NAME_COLLISION, nothing mixed. */
describe('name collisions', () => {
  const pipelines: Pipeline[] = [];
  const connections: mysql.Connection[] = [];
  const pipeline = (name: string) => {
    const p = new Pipeline(uniqueName(name));
    pipelines.push(p);
    return p;
  };

  after(async () => {
    for (const p of pipelines) await p.stopAll();
    for (const c of connections) await c.end();
  });

  it('refuses at start two tables whose topic names become one, naming both and the setting', async () => {
    const p = pipeline('cdc_topicclash');
    connections.push(await p.createDatabase('CREATE TABLE `a$b` (id INT PRIMARY KEY); CREATE TABLE a_b (id INT PRIMARY KEY);'));
    const source = startService('source', p.sourceEnv());
    p.source = source;
    const line = await stoppedOnCollision(source);
    assert.match(
      line,
      new RegExp(`Tables ${p.database}\\.a\\$b and ${p.database}\\.a_b both map to the Kafka topic ${p.prefix}\\.${p.database}\\.a_b|Tables ${p.database}\\.a_b and ${p.database}\\.a\\$b`),
    );
    assert.match(line, /route transform/);
  });

  it('refuses a new table whose topic collides with a captured one when it appears while streaming', async () => {
    const p = pipeline('cdc_newclash');
    const conn = await p.createDatabase('CREATE TABLE `x.y` (id INT PRIMARY KEY);');
    connections.push(conn);
    const source = await p.startSource();
    await conn.query('INSERT INTO `x.y` VALUES (1)');
    await waitFor('the first table in Kafka', async () => {
      let seen = 0;
      await readTopicToEnd(testKafka(), p.topicOf('x_y'), () => void seen++).catch(() => undefined);
      return seen === 1;
    });
    await conn.query('CREATE TABLE x_y (id INT PRIMARY KEY); INSERT INTO x_y VALUES (2)');
    const line = await stoppedOnCollision(source);
    assert.match(line, new RegExp(`${p.database}\\.x\\.y and ${p.database}\\.x_y both map`));
    let records = 0;
    await readTopicToEnd(testKafka(), p.topicOf('x_y'), () => void records++);
    assert.equal(records, 1, "no row of the second table reached the first one's topic");
  });

  it('refuses two columns that map to one Avro field, naming both', async () => {
    const p = pipeline('cdc_colclash');
    connections.push(await p.createDatabase('CREATE TABLE t (id INT PRIMARY KEY, `col with space` INT, col_with_space INT); INSERT INTO t VALUES (1, 2, 3);'));
    const source = startService('source', p.sourceEnv({ SNAPSHOT_MODE: 'initial' }));
    p.source = source;
    const line = await stoppedOnCollision(source);
    assert.match(line, /Columns \\"col with space\\" and \\"col_with_space\\" of [^ ]+\.t both map to the Avro field col_with_space/);
    assert.match(line, /TRANSFORMS_FIX_TYPE=rename/);
  });

  it('holds the second of two tables whose index names become one, without dead letters, and says why on /readyz', async () => {
    const p = pipeline('cdc_indexclash');
    const conn = await p.createDatabase('CREATE TABLE Orders (id INT PRIMARY KEY, v INT); CREATE TABLE orders (id INT PRIMARY KEY, v INT);');
    connections.push(conn);
    await p.startSource();
    const sink = startService('sink', p.sinkEnv());
    p.sink = sink;
    await conn.query('INSERT INTO Orders VALUES (1, 10), (2, 20); INSERT INTO orders VALUES (1, 99)');
    await waitFor(
      'readyz to name NAME_COLLISION',
      async () => {
        const ready = await sink.http('/readyz').catch(() => ({ status: 0, body: '' }));
        return ready.status === 503 && ready.body.includes('NAME_COLLISION');
      },
      120_000,
      500,
    );
    const body = (await sink.http('/readyz')).body;
    assert.match(body, new RegExp(`Tables ${p.database}\\.(Orders|orders) and ${p.database}\\.(Orders|orders) both map to the Elasticsearch index ${p.indexOf('orders')}`));
    // Only the first table's rows reach the index, whichever table came first.
    const values = async () => JSON.stringify([...(await dumpIndex(p.indexOf('orders'))).values()].map((d) => d.source.v).sort());
    await waitFor('the first table indexed', async () => (await values()) !== '[]', 60_000, 500);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.ok(['[10,20]', '[99]'].includes(await values()), `one table's rows only, got ${await values()}`);
    const metrics = (await sink.http('/metrics')).body;
    assert.ok(!/^cdc_sink_dead_letters_total\{/m.test(metrics), 'nothing is dead-lettered');
    assert.equal(sink.child.exitCode, null, 'the sink keeps running');
  });
});
