import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

type IndexSettings = { number_of_shards?: string; number_of_replicas?: string; auto_expand_replicas?: string; gc_deletes?: string };

async function settingsOf(index: string): Promise<IndexSettings> {
  const { body } = await es('GET', `/${index}/_settings`);
  return (body as Record<string, { settings: { index: IndexSettings } }>)[index]!.settings.index;
}

async function healthOf(index: string): Promise<string> {
  const { body } = await es('GET', `/_cluster/health/${index}?timeout=10s&wait_for_status=green`);
  return String((body as { status?: string }).status);
}

describe('settings of the indices the sink creates', () => {
  const pipeline = new Pipeline(uniqueName('cdc_idxset'));
  const template = uniqueName('tpl').toLowerCase();
  let conn: mysql.Connection;

  before(async () => {
    conn = await pipeline.createDatabase('CREATE TABLE plain (id INT PRIMARY KEY, v VARCHAR(10)); CREATE TABLE templated (id INT PRIMARY KEY, v VARCHAR(10)); CREATE TABLE tuned (id INT PRIMARY KEY)');
    // The operator's template for one index: its shard and replica settings must win over the sink's.
    const put = await es('PUT', `/_index_template/${template}`, {
      index_patterns: [pipeline.indexOf('templated')],
      priority: 500,
      template: { settings: { number_of_shards: 3, number_of_replicas: 0 } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
  });
  after(async () => {
    await pipeline.stopAll();
    await es('DELETE', `/_index_template/${template}`);
    await conn.end();
  });

  it('defaults to auto-expanding replicas (green on one node), takes INDEX_SHARDS/INDEX_REPLICAS, and leaves a matching template its settings', async () => {
    await pipeline.startSource();
    await pipeline.startSink();
    await conn.query("INSERT INTO plain VALUES (1, 'a')");
    await waitFor('the plain document', async () => (await dumpIndex(pipeline.indexOf('plain')).catch(() => new Map())).size === 1);

    const plain = await settingsOf(pipeline.indexOf('plain'));
    assert.equal(plain.auto_expand_replicas, '0-1');
    assert.equal(plain.number_of_replicas, '0', 'a single node expands to no replica');
    assert.equal(plain.gc_deletes, '1d');
    assert.equal(await healthOf(pipeline.indexOf('plain')), 'green');

    // The sink again with explicit settings, for a new table and for one whose index has a template.
    await pipeline.sink!.stop('SIGTERM');
    await pipeline.startSink({ INDEX_SHARDS: '2', INDEX_REPLICAS: '1' });
    await conn.query("INSERT INTO tuned VALUES (1); INSERT INTO templated VALUES (1, 'b')");
    await waitFor(
      'the tuned and templated documents',
      async () => (await dumpIndex(pipeline.indexOf('tuned')).catch(() => new Map())).size === 1 && (await dumpIndex(pipeline.indexOf('templated')).catch(() => new Map())).size === 1,
    );
    const tuned = await settingsOf(pipeline.indexOf('tuned'));
    assert.equal(tuned.number_of_shards, '2');
    assert.equal(tuned.number_of_replicas, '1');
    assert.equal(tuned.auto_expand_replicas, undefined);

    const templated = await settingsOf(pipeline.indexOf('templated'));
    assert.equal(templated.number_of_shards, '3', 'the template sets the shards');
    assert.equal(templated.number_of_replicas, '0', 'the template sets the replicas');
    assert.equal(templated.auto_expand_replicas, undefined, 'the sink adds no replica setting of its own');
    assert.equal(templated.gc_deletes, '1d', 'what the template leaves open, the sink still sets');
  });
});
