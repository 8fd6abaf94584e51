/**
 * WKB (OGC well-known binary, 2D: what MySQL and MariaDB store after the 4-byte SRID) → GeoJSON
 * geometry. Each geometry, collection members included, states its own byte order. A type this
 * parser does not know (Z/M variants, which MariaDB never writes) or truncated bytes throw.
 */

export type Position = [number, number];

export type GeoJsonGeometry =
  | { type: 'Point'; coordinates: Position | [] }
  | { type: 'LineString' | 'MultiPoint'; coordinates: Position[] }
  | { type: 'Polygon' | 'MultiLineString'; coordinates: Position[][] }
  | { type: 'MultiPolygon'; coordinates: Position[][][] }
  | { type: 'GeometryCollection'; geometries: GeoJsonGeometry[] };

const MULTI_MEMBER = { 4: 1, 5: 2, 6: 3 } as const;

export function wkbToGeoJson(wkb: Buffer): GeoJsonGeometry {
  const reader = new WkbReader(wkb);
  const geometry = reader.geometry();
  if (reader.offset !== wkb.length) throw new Error(`WKB has ${wkb.length - reader.offset} bytes after its geometry`);
  return geometry;
}

class WkbReader {
  offset = 0;
  readonly #buf: Buffer;
  #little = true;

  constructor(buf: Buffer) {
    this.#buf = buf;
  }

  geometry(expected?: number): GeoJsonGeometry {
    const order = this.#buf.readUInt8(this.offset++);
    if (order > 1) throw new Error(`invalid WKB byte order ${order}`);
    this.#little = order === 1;
    const type = this.#uint32();
    if (expected !== undefined && type !== expected) throw new Error(`WKB member of type ${type} where ${expected} belongs`);
    switch (type) {
      case 1: {
        const [x, y] = this.#position();
        // An empty point is NaN, NaN in WKB.
        return { type: 'Point', coordinates: Number.isNaN(x) && Number.isNaN(y) ? [] : [x, y] };
      }
      case 2:
        return { type: 'LineString', coordinates: this.#positions() };
      case 3:
        return { type: 'Polygon', coordinates: this.#repeat(() => this.#positions()) };
      case 4:
      case 5:
      case 6: {
        const member = MULTI_MEMBER[type];
        const members = this.#repeat(() => this.geometry(member));
        return { type: (['MultiPoint', 'MultiLineString', 'MultiPolygon'] as const)[type - 4], coordinates: members.map((m) => (m as { coordinates: unknown }).coordinates) } as GeoJsonGeometry;
      }
      case 7:
        return { type: 'GeometryCollection', geometries: this.#repeat(() => this.geometry()) };
      default:
        throw new Error(`unsupported WKB geometry type ${type}`);
    }
  }

  #repeat<T>(read: () => T): T[] {
    const count = this.#uint32();
    // Each item takes at least 4 bytes: a count beyond that is corrupt, not a reason to loop.
    if (count * 4 > this.#buf.length - this.offset) throw new Error(`WKB count ${count} exceeds the remaining bytes`);
    const little = this.#little;
    const items: T[] = [];
    for (let i = 0; i < count; i++) {
      items.push(read());
      this.#little = little;
    }
    return items;
  }

  #positions(): Position[] {
    return this.#repeat(() => this.#position());
  }

  #position(): Position {
    return [this.#double(), this.#double()];
  }

  #uint32(): number {
    const value = this.#little ? this.#buf.readUInt32LE(this.offset) : this.#buf.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  #double(): number {
    const value = this.#little ? this.#buf.readDoubleLE(this.offset) : this.#buf.readDoubleBE(this.offset);
    this.offset += 8;
    return value;
  }
}

/** Every position of a geometry, for range checks. */
export function positionsOf(geometry: GeoJsonGeometry): Position[] {
  if (geometry.type === 'GeometryCollection') return geometry.geometries.flatMap(positionsOf);
  const flat = (value: unknown): Position[] => (Array.isArray(value) && typeof value[0] === 'number' ? [value as Position] : (value as unknown[]).flatMap(flat));
  return geometry.type === 'Point' ? (geometry.coordinates.length ? [geometry.coordinates as Position] : []) : flat(geometry.coordinates);
}
