import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errors, type Client } from '@elastic/elasticsearch';
import type { ColumnDef, TableSchema } from '../../src/core/change-event.ts';
import { schemaFingerprint } from '../../src/core/change-event.ts';
import { createLogger } from '../../src/core/logger.ts';
import { IndexManager } from '../../src/sink/index-manager.ts';

function schemaOf(table: string, columns: ColumnDef[] = [{ name: 'id', kind: 'int32', sqlType: 'int', optional: false }]): TableSchema {
  return { database: 'db', table, columns, key: ['id'], fingerprint: schemaFingerprint(columns, ['id']) };
}

function refusal(type: string, reason: string): errors.ResponseError {
  return new errors.ResponseError({ body: { error: { type, reason }, status: 400 }, statusCode: 400, headers: {}, warnings: null, meta: {} } as never);
}

/**
 * An Elasticsearch stand-in whose index creations take a while, counting how many run at once;
 * `refuse` may refuse a creation's mappings.
 */
function fakeCluster(refuse: (mappings: string) => errors.ResponseError | undefined = () => undefined) {
  const indices = new Map<string, Record<string, unknown>>();
  const cluster = { creates: 0, running: 0, mostAtOnce: 0, indices };
  const client = {
    indices: {
      exists: async ({ index }: { index: string }) => indices.has(index),
      simulateIndexTemplate: async () => ({ template: { settings: {} } }),
      create: async ({ index, mappings }: { index: string; mappings: { properties: Record<string, unknown> } }) => {
        cluster.creates++;
        cluster.running++;
        cluster.mostAtOnce = Math.max(cluster.mostAtOnce, cluster.running);
        try {
          await new Promise((resolve) => setTimeout(resolve, 5));
          const refused = refuse(JSON.stringify(mappings));
          if (refused) throw refused;
          if (indices.has(index)) throw refusal('resource_already_exists_exception', `index [${index}] already exists`);
          indices.set(index, mappings.properties);
          return { acknowledged: true };
        } finally {
          cluster.running--;
        }
      },
      getMapping: async ({ index }: { index: string }) => ({ [index]: { mappings: { properties: indices.get(index) } } }),
      putMapping: async ({ index, properties }: { index: string; properties: Record<string, unknown> }) => {
        indices.set(index, { ...indices.get(index), ...properties });
        return { acknowledged: true };
      },
    },
  };
  return { cluster, client: client as unknown as Client };
}

function manager(client: Client, concurrency: number): IndexManager {
  return new IndexManager(client, { gcDeletes: '1d', replicas: '0', softDeletes: false, writeAlias: false, extraProperties: {}, jsonColumns: 'text', concurrency }, createLogger('silent', 'sink'));
}

describe('index preparation, many at once', () => {
  it('prepares many new indices at most SINK_INDEX_CONCURRENCY at a time, and each only once', async () => {
    const { cluster, client } = fakeCluster();
    const indices = manager(client, 4);
    const tables = Array.from({ length: 20 }, (_, i) => schemaOf(`t${i}`));
    await Promise.all(tables.map((schema) => indices.ensure(`db_${schema.table}`, schema)));
    assert.equal(cluster.creates, 20);
    assert.equal(cluster.mostAtOnce, 4);
    assert.ok(tables.every((schema) => indices.isReady(`db_${schema.table}`, schema)));
    await Promise.all(tables.map((schema) => indices.ensure(`db_${schema.table}`, schema)));
    assert.equal(cluster.creates, 20, 'a prepared index is not asked for again');
  });

  it('shares one preparation between partitions that need the same index and schema at once', async () => {
    const { cluster, client } = fakeCluster();
    const indices = manager(client, 8);
    const schema = schemaOf('orders');
    await Promise.all(Array.from({ length: 5 }, () => indices.ensure('db_orders', schema)));
    assert.equal(cluster.creates, 1);
  });

  it('gives a failed preparation to every caller waiting for it, and tries again on the next call', async () => {
    let refuseNext = true;
    const { cluster, client } = fakeCluster(() => {
      if (!refuseNext) return undefined;
      refuseNext = false;
      return refusal('mapper_parsing_exception', 'Failed to parse mapping: something odd');
    });
    const indices = manager(client, 8);
    const schema = schemaOf('orders');
    const outcomes = await Promise.allSettled(Array.from({ length: 3 }, () => indices.ensure('db_orders', schema)));
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['rejected', 'rejected', 'rejected'],
    );
    assert.ok(!indices.isReady('db_orders', schema));
    await indices.ensure('db_orders', schema);
    assert.equal(cluster.creates, 2);
  });

  it('falls back to unindexed GeoJSON for preparations running at once on a cluster without geo_shape', async () => {
    const { cluster, client } = fakeCluster((mappings) =>
      mappings.includes('"geo_shape"') ? refusal('mapper_parsing_exception', 'No handler for type [geo_shape] declared on field [geojson]') : undefined,
    );
    const indices = manager(client, 8);
    const columns: ColumnDef[] = [
      { name: 'id', kind: 'int32', sqlType: 'int', optional: false },
      { name: 'place', kind: 'geometry', sqlType: 'geometry', optional: true },
    ];
    const tables = Array.from({ length: 4 }, (_, i) => schemaOf(`shapes${i}`, columns));
    // Each learns of the missing type from its own refusal, whichever learnt it first.
    await Promise.all(tables.map((schema) => indices.ensure(`db_${schema.table}`, schema)));
    assert.equal(cluster.indices.size, 4);
    assert.ok(![...cluster.indices.values()].some((properties) => JSON.stringify(properties).includes('geo_shape')));
  });
});
