import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type mysql from 'mysql2/promise';
import { dumpIndex, es } from '../helpers/elasticsearch.ts';
import { readTopic } from '../helpers/kafka.ts';
import { rootConnection, rows } from '../helpers/mysql.ts';
import { metricValue, Pipeline } from '../helpers/pipeline.ts';
import { uniqueName } from '../helpers/services.ts';
import { createTableSql, insertSql, MATRIX, rowMismatches, selectSql, type MatrixTable } from '../helpers/type-matrix.ts';
import { waitFor } from '../helpers/wait.ts';

/**
 * Every type family with its edge values, written under a non-UTC server time zone, half before
 * the source starts (snapshot) and half after (binlog): each decoded Kafka record and each
 * Elasticsearch document must equal the server's own SELECT output, field by field. Once with
 * each VALUE_CONVERTER: the sink reads whichever the topic holds (json with no registry at all).
 */
/**
 * The avro run keeps ZERO_DATES' default (null); the json run turns zero dates into a sentinel and
 * snapshots one row per chunk, so a chunk ends on a zero-date key and the next must not skip the
 * rows keyed between the zero date and the sentinel.
 */
const RUNS = [
  { converter: 'avro', zeroDates: { ZERO_DATES: 'null' }, zeroDay: undefined },
  { converter: 'json', zeroDates: { ZERO_DATES: 'sentinel', ZERO_DATE_SENTINEL: '1999-12-31', SNAPSHOT_CHUNK_ROWS: '1' }, zeroDay: '1999-12-31' },
] as const;

for (const { converter, zeroDates, zeroDay } of RUNS)
  describe(`type matrix (${converter}, ZERO_DATES=${zeroDates.ZERO_DATES}): every column type, MariaDB → Kafka → Elasticsearch, exact`, () => {
    const pipeline = new Pipeline(uniqueName('cdc_types'));
    const SNAPSHOT_FIRST_ID = 1;
    const STREAM_FIRST_ID = 101;
    let conn: mysql.Connection;
    let writer: mysql.Connection;
    let globalZone = 'SYSTEM';

    before(async () => {
      conn = await pipeline.createDatabase(MATRIX.map(createTableSql).join(';\n'));
      globalZone = String((await rows(conn, 'SELECT @@GLOBAL.time_zone AS z'))[0]!.z);
      const zone = await nonUtcZone(conn);
      await conn.query('SET GLOBAL time_zone = ?', [zone]);
      // The writer works in the server zone, as its applications would; the checks read in UTC.
      writer = await rootConnection(pipeline.database);
      await writer.query("SET time_zone = @@GLOBAL.time_zone, sql_mode = ''");
      for (const table of MATRIX) await writer.query(insertSql(table, SNAPSHOT_FIRST_ID));
      // Self-describing JSON needs no registry on either side.
      const registry: Record<string, string> = converter === 'json' ? { SCHEMA_REGISTRY_URL: '' } : {};
      await pipeline.startSource({ SNAPSHOT_MODE: 'initial', VALUE_CONVERTER: converter, ...zeroDates, ...registry });
      await pipeline.startSink(registry);
      await indexed(1);
      // Only now, so that these rows come from the binlog, not from the snapshot.
      for (const table of MATRIX) await writer.query(insertSql(table, STREAM_FIRST_ID));
      await indexed(2);
    });

    async function indexed(copies: number): Promise<void> {
      for (const table of MATRIX) {
        await waitFor(`${table.name} to be indexed`, async () => (await dumpIndex(pipeline.indexOf(table.name))).size === table.rows.length * copies, 180_000, 1000);
      }
    }

    after(async () => {
      await conn?.query('SET GLOBAL time_zone = ?', [globalZone]);
      await pipeline.stopAll();
      await writer?.end();
      await conn?.end();
    });

    async function selectAll(table: MatrixTable): Promise<Map<string, Record<string, unknown>>> {
      const result = await rows(conn, selectSql(table));
      return new Map(result.map((r) => [String(r.id), r]));
    }

    const mismatches = (table: MatrixTable, id: string, expected: Record<string, unknown>, actual: Record<string, unknown>, where: string) =>
      rowMismatches(table, id, expected, actual, where, zeroDay);

    for (const table of MATRIX) {
      it(`${table.name}: each Elasticsearch document equals its row (snapshot and binlog rows)`, async () => {
        const selected = await selectAll(table);
        // By the row's id column: a composite key's document id is a JSON array.
        const docs = new Map([...(await dumpIndex(pipeline.indexOf(table.name))).values()].map((doc) => [String(doc.source.id), doc]));
        const problems: string[] = [];
        for (const [id, row] of selected) {
          const doc = docs.get(id);
          if (!doc) problems.push(`${table.name} id=${id} is missing`);
          else problems.push(...mismatches(table, id, row, doc.source, 'es'));
        }
        assert.deepEqual(problems, []);
        assert.equal(docs.size, selected.size);
      });

      it(`${table.name}: each decoded Kafka record equals its row`, async () => {
        const selected = await selectAll(table);
        const records = await readTopic(pipeline.topicOf(table.name));
        const problems: string[] = [];
        const seen = new Set<string>();
        for (const record of records) {
          if (record.value) assert.equal(record.value[0], converter === 'json' ? 0x7b : 0x00, `a ${converter} record`);
          const id = String(record.decodedKey?.id);
          const after = record.decodedValue?.after as Record<string, unknown> | undefined;
          if (!after) continue;
          seen.add(id);
          problems.push(...mismatches(table, id, selected.get(id) ?? {}, after, 'kafka'));
        }
        assert.deepEqual(problems, []);
        assert.deepEqual([...seen].sort(), [...selected.keys()].sort());
      });
    }

    it('counts the values the readers replace, on both paths (cdc_source_lossy_values_total)', async () => {
      // One snapshot and one binlog row each; `u8t` of the second row stores U+FFFD itself, which counts too (see lossy-values.ts).
      const metric = async (column: string, kind: string) => metricValue(pipeline.source!, 'cdc_source_lossy_values_total', `table="${pipeline.database}.m_edge",column="${column}",kind="${kind}"`);
      assert.equal(await metric('en', 'enum_error'), 2);
      assert.equal(await metric('u8', 'invalid_utf8'), 2);
      assert.equal(await metric('u8t', 'invalid_utf8'), 4);
    });

    it('gives GEOMETRY documents a GeoJSON shape where it lies on the globe, searchable where geo_shape exists', async () => {
      const docs = await dumpIndex(pipeline.indexOf('m_geometry'));
      for (const id of ['1', '101']) {
        const doc = [...docs.values()].find((d) => String(d.source.id) === id)!.source as Record<string, { geojson?: unknown }>;
        assert.deepEqual(doc.g!.geojson, { type: 'Point', coordinates: [13.4, 52.5] });
        assert.deepEqual(doc.gc!.geojson, {
          type: 'GeometryCollection',
          geometries: [
            { type: 'Point', coordinates: [1, 1] },
            {
              type: 'LineString',
              coordinates: [
                [0, 0],
                [1, 1],
              ],
            },
            { type: 'MultiPoint', coordinates: [[3, 3]] },
          ],
        });
      }
      for (const id of ['2', '102']) {
        const doc = [...docs.values()].find((d) => String(d.source.id) === id)!.source as Record<string, { geojson?: unknown }>;
        assert.equal(doc.p!.geojson, undefined, 'SRID 3857 is not lon/lat');
        assert.equal(doc.gc!.geojson, undefined, 'an empty collection has no shape');
        assert.deepEqual(doc.pg!.geojson, undefined, 'SRID 0 but beyond ±180/±90');
      }
      const index = pipeline.indexOf('m_geometry');
      const mapping = (await es('GET', `/${index}/_mapping`)).body as Record<
        string,
        { mappings: { properties: Record<string, { properties: Record<string, { type?: string; enabled?: boolean }> }> } }
      >;
      const geojson = mapping[index]!.mappings.properties.g!.properties.geojson!;
      if (geojson.type === 'geo_shape') {
        const hit = await es('POST', `/${index}/_search`, {
          query: {
            geo_shape: {
              'g.geojson': {
                shape: {
                  type: 'envelope',
                  coordinates: [
                    [13, 53],
                    [14, 52],
                  ],
                },
                relation: 'intersects',
              },
            },
          },
        });
        assert.deepEqual((hit.body as { hits: { hits: Array<{ _source: { id: number } }> } }).hits.hits.map((h) => String(h._source.id)).sort(), ['1', '101']);
      } else {
        // This distribution lacks the spatial module: the sink keeps the GeoJSON unindexed instead.
        assert.deepEqual(geojson, { type: 'object', enabled: false });
      }
    });

    it('maps exact numbers so that _source keeps every digit and dates are dates', async () => {
      const mapping = (await es('GET', `/${pipeline.indexOf('m_numbers')},${pipeline.indexOf('m_temporal')}/_mapping`)).body as Record<
        string,
        { mappings: { properties: Record<string, { type: string }> } }
      >;
      const numbers = mapping[pipeline.indexOf('m_numbers')]!.mappings.properties;
      const temporal = mapping[pipeline.indexOf('m_temporal')]!.mappings.properties;
      assert.equal(numbers.d65!.type, 'double');
      assert.equal(temporal.dt!.type, 'date');
      assert.equal(temporal.ts6!.type, 'date');
      assert.equal(temporal.t6!.type, 'keyword');
      const hit = await es('POST', `/${pipeline.indexOf('m_temporal')}/_search`, { query: { range: { ts6: { gte: '2024-03-31T00:59:59Z', lt: '2024-03-31T01:00:00Z' } } } });
      const ids = (hit.body as { hits: { hits: Array<{ _id: string }> } }).hits.hits.map((h) => h._id).sort();
      assert.deepEqual(ids, ['103', '3'], 'the DST-boundary TIMESTAMP is searchable as the UTC instant');
    });
  });

/**
 * Europe/Berlin when the server knows it (loaded into the server's zone tables from the
 * machine's zoneinfo if missing), else a fixed non-UTC offset.
 */
async function nonUtcZone(conn: mysql.Connection): Promise<string> {
  const known = async () => (await rows(conn, "SELECT CONVERT_TZ('2024-01-01 00:00:00', '+00:00', 'Europe/Berlin') AS t"))[0]!.t !== null;
  if (await known()) return 'Europe/Berlin';
  try {
    const sql = execFileSync('mariadb-tzinfo-to-sql', ['/usr/share/zoneinfo/Europe/Berlin', 'Europe/Berlin'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [[{ db }]] = (await conn.query('SELECT DATABASE() AS db')) as unknown as [[{ db: string }]];
    // The generated statements work on the current database's zone tables.
    await conn.query('USE mysql');
    try {
      await conn.query(sql);
    } finally {
      await conn.query(`USE \`${db}\``);
    }
    if (await known()) return 'Europe/Berlin';
  } catch {
    // no zoneinfo on this machine: a fixed offset still moves every instant
  }
  return '+05:30';
}
