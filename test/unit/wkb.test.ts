import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { avroType } from '../../src/core/avro-types.ts';
import { storedGeometry } from '../../src/core/change-event.ts';
import { positionsOf, wkbToGeoJson } from '../../src/core/wkb.ts';
import { envelopeSchema } from '../../src/source/avro-schema.ts';
import { canonicalValue, columnDef } from '../../src/source/column-types.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';
import { documentJson, documentRow } from '../../src/sink/document.ts';
import { propertiesOf, rowTypeOfEnvelope, tableSchemaOfRow } from '../../src/sink/index-mapping.ts';

/** A WKB builder, so every byte order and nesting can be written (MariaDB itself writes little endian). */
type Geo = [type: number, body: (w: Writer) => void];
class Writer {
  readonly parts: Buffer[] = [];
  readonly little: boolean;
  constructor(little: boolean) {
    this.little = little;
  }
  uint(n: number) {
    const b = Buffer.alloc(4);
    if (this.little) b.writeUInt32LE(n);
    else b.writeUInt32BE(n);
    this.parts.push(b);
  }
  point(x: number, y: number) {
    for (const v of [x, y]) {
      const b = Buffer.alloc(8);
      if (this.little) b.writeDoubleLE(v);
      else b.writeDoubleBE(v);
      this.parts.push(b);
    }
  }
  points(list: Array<[number, number]>) {
    this.uint(list.length);
    for (const [x, y] of list) this.point(x, y);
  }
}
function wkb([type, body]: Geo, little = true): Buffer {
  const w = new Writer(little);
  w.parts.push(Buffer.from([little ? 1 : 0]));
  w.uint(type);
  body(w);
  return Buffer.concat(w.parts);
}
const collection = (type: number, members: Buffer[]): Geo => [
  type,
  (w) => {
    w.uint(members.length);
    w.parts.push(...members);
  },
];

const POINT: Geo = [1, (w) => w.point(13.4, 52.5)];
const LINE: Geo = [
  2,
  (w) =>
    w.points([
      [0, 0],
      [1, 1],
      [2, 0],
    ]),
];
const POLYGON: Geo = [
  3,
  (w) => {
    w.uint(2);
    w.points([
      [0, 0],
      [4, 0],
      [4, 4],
      [0, 0],
    ]);
    w.points([
      [1, 1],
      [2, 1],
      [2, 2],
      [1, 1],
    ]);
  },
];

describe('WKB → GeoJSON', () => {
  for (const little of [true, false]) {
    it(`reads all seven types (${little ? 'little' : 'big'} endian)`, () => {
      assert.deepEqual(wkbToGeoJson(wkb(POINT, little)), { type: 'Point', coordinates: [13.4, 52.5] });
      assert.deepEqual(wkbToGeoJson(wkb(LINE, little)), {
        type: 'LineString',
        coordinates: [
          [0, 0],
          [1, 1],
          [2, 0],
        ],
      });
      assert.deepEqual(wkbToGeoJson(wkb(POLYGON, little)), {
        type: 'Polygon',
        coordinates: [
          [
            [0, 0],
            [4, 0],
            [4, 4],
            [0, 0],
          ],
          [
            [1, 1],
            [2, 1],
            [2, 2],
            [1, 1],
          ],
        ],
      });
      assert.deepEqual(wkbToGeoJson(wkb(collection(4, [wkb(POINT, little), wkb([1, (w) => w.point(1, 2)], !little)]), little)), {
        type: 'MultiPoint',
        coordinates: [
          [13.4, 52.5],
          [1, 2],
        ],
      });
      assert.deepEqual(wkbToGeoJson(wkb(collection(5, [wkb(LINE, !little)]), little)), {
        type: 'MultiLineString',
        coordinates: [
          [
            [0, 0],
            [1, 1],
            [2, 0],
          ],
        ],
      });
      assert.deepEqual(wkbToGeoJson(wkb(collection(6, [wkb(POLYGON, little), wkb(POLYGON, !little)]), little)).type, 'MultiPolygon');
      assert.deepEqual(wkbToGeoJson(wkb(collection(7, [wkb(POINT, little), wkb(LINE, !little)]), little)), {
        type: 'GeometryCollection',
        geometries: [
          { type: 'Point', coordinates: [13.4, 52.5] },
          {
            type: 'LineString',
            coordinates: [
              [0, 0],
              [1, 1],
              [2, 0],
            ],
          },
        ],
      });
    });
  }

  it('reads nested collections, mixed byte orders, and empty geometries', () => {
    const inner = wkb(collection(7, [wkb(collection(4, [wkb(POINT, false)]), true)]), false);
    assert.deepEqual(wkbToGeoJson(wkb(collection(7, [inner, wkb(POINT)]))), {
      type: 'GeometryCollection',
      geometries: [
        { type: 'GeometryCollection', geometries: [{ type: 'MultiPoint', coordinates: [[13.4, 52.5]] }] },
        { type: 'Point', coordinates: [13.4, 52.5] },
      ],
    });
    // MariaDB's GEOMETRYCOLLECTION EMPTY (HEX after the SRID: 010700000000000000).
    const empty = wkbToGeoJson(Buffer.from('010700000000000000', 'hex'));
    assert.deepEqual(empty, { type: 'GeometryCollection', geometries: [] });
    assert.deepEqual(positionsOf(empty), []);
    assert.deepEqual(wkbToGeoJson(wkb([1, (w) => w.point(NaN, NaN)])), { type: 'Point', coordinates: [] }, 'POINT EMPTY');
    assert.deepEqual(wkbToGeoJson(wkb(collection(6, []))), { type: 'MultiPolygon', coordinates: [] });
    assert.deepEqual(wkbToGeoJson(wkb([2, (w) => w.points([])])), { type: 'LineString', coordinates: [] });
  });

  it('refuses what it cannot read instead of guessing', () => {
    assert.throws(() => wkbToGeoJson(wkb(POINT).subarray(0, 12)));
    assert.throws(() => wkbToGeoJson(wkb([1001, (w) => w.point(1, 2)])), /unsupported WKB geometry type 1001/);
    assert.throws(() => wkbToGeoJson(wkb(collection(4, [wkb(LINE)]))), /member of type 2 where 1 belongs/);
    assert.throws(() => wkbToGeoJson(Buffer.concat([wkb(POINT), Buffer.from([0])])), /after its geometry/);
    assert.throws(() => wkbToGeoJson(Buffer.from('0102000000ffffff7f', 'hex')), /exceeds the remaining bytes/);
  });
});

describe('GEOMETRY columns', () => {
  const stored = (srid: number, geo: Geo) => storedGeometry({ srid, wkb: wkb(geo) });

  it('are every spatial type, read from the stored SRID + WKB', () => {
    for (const type of ['geometry', 'point', 'linestring', 'polygon', 'multipoint', 'multilinestring', 'multipolygon', 'geometrycollection', 'geomcollection']) {
      assert.equal(columnDef('db.t', { COLUMN_NAME: 'g', COLUMN_TYPE: type }, 255, true).kind, 'geometry', type);
    }
    const value = canonicalValue(columnDef('db.t', { COLUMN_NAME: 'g', COLUMN_TYPE: 'point' }, 255, true), stored(4294967295, POINT));
    assert.deepEqual(value, { srid: 4294967295, wkb: wkb(POINT) }, 'the whole unsigned 32-bit SRID range');
  });

  it('define the Avro Geometry record once per schema and refer to it by name after', () => {
    const table = deriveTableSchema(
      'db',
      't',
      [
        { COLUMN_NAME: 'id', COLUMN_TYPE: 'int' },
        { COLUMN_NAME: 'a', COLUMN_TYPE: 'point' },
        { COLUMN_NAME: 'b', COLUMN_TYPE: 'polygon' },
      ],
      [],
      [0],
    );
    const schema = envelopeSchema('p', table);
    const type = avroType(schema as never);
    const row = { id: 1, a: { wkb: wkb(POINT), srid: 4326 }, b: { wkb: wkb(POLYGON), srid: 0 } };
    const decoded = type.fromBuffer(type.toBuffer({ before: null, after: row, source: sourceBlock(), op: 'c', ts_ms: 1n, transaction: null })) as { after: { a: { wkb: Buffer; srid: bigint } } };
    assert.ok(decoded.after.a.wkb.equals(wkb(POINT)));
    assert.equal(decoded.after.a.srid, 4326n);
    const sinkSchema = tableSchemaOfRow('db', 't', rowTypeOfEnvelope(type));
    assert.deepEqual(
      sinkSchema.columns.map((c) => c.kind),
      ['int32', 'geometry', 'geometry'],
      'the sink recognises the record',
    );
    assert.equal((propertiesOf(sinkSchema).a as { properties: { geojson: { type: string } } }).properties.geojson.type, 'geo_shape');
    assert.equal((propertiesOf(sinkSchema, false).a as { properties: { geojson: { enabled: boolean } } }).properties.geojson.enabled, false);
  });

  it('become {wkb, srid, geojson} in documents, with GeoJSON only where it is a shape on the globe', () => {
    const table = deriveTableSchema(
      'db',
      't',
      ['g', 'h', 'i', 'j', 'k'].map((name) => ({ COLUMN_NAME: name, COLUMN_TYPE: 'geometry' })),
      [],
      [],
    );
    const doc = documentRow(table, {
      g: { wkb: wkb(POINT), srid: 4326 },
      h: { wkb: wkb(POINT).toString('base64'), srid: 3857 }, // a projected SRID: no GeoJSON
      i: { wkb: wkb([1, (w) => w.point(200, 10)]), srid: 0n }, // out of range
      j: { wkb: Buffer.from('010700000000000000', 'hex'), srid: 4326 }, // empty
      k: null,
    }) as Record<string, { geojson?: unknown } | null>;
    assert.deepEqual(doc.g!.geojson, { type: 'Point', coordinates: [13.4, 52.5] });
    assert.equal(doc.h!.geojson, undefined);
    assert.equal(doc.i!.geojson, undefined);
    assert.equal(doc.j!.geojson, undefined);
    assert.equal(doc.k, null);
    assert.equal(documentJson({ g: doc.g }), `{"g":{"wkb":"${wkb(POINT).toString('base64')}","srid":4326,"geojson":{"type":"Point","coordinates":[13.4,52.5]}}}`);
  });
});

function sourceBlock() {
  return { version: 'v', connector: 'mariadb', name: 'p', source_id: 's', ts_ms: 1n, snapshot: 'false', db: 'db', table: 't', server_id: 1n, gtid: null, file: 'f', pos: 4n, row: 0 };
}
