import { createHash } from 'node:crypto';
import { JsonText } from '../core/avro-types.ts';
import type { TableSchema } from '../core/change-event.ts';
import { exactJson } from '../core/exact-json.ts';
import { positionsOf, wkbToGeoJson, type GeoJsonGeometry } from '../core/wkb.ts';

/**
 * Serializes a decoded row as the JSON text of an Elasticsearch document, exactly (see exactJson:
 * BigInt longs and JSON columns' stored text, so no number is rounded on the way into the index).
 */
export function documentJson(row: Record<string, unknown>): string {
  // exactJson would do, but every document of a table repeats the same field names: their JSON
  // text is kept (about half the serialising time of a typical row).
  let out = '';
  for (const name of Object.keys(row)) out += `${out ? ',' : '{'}${quotedName(name)}${exactJson(row[name])}`;
  return out ? `${out}}` : '{}';
}

/** Field names as JSON text with the colon; bounded, since names come from the data's schemas. */
const quotedNames = new Map<string, string>();

function quotedName(name: string): string {
  let quoted = quotedNames.get(name);
  if (quoted === undefined) {
    if (quotedNames.size >= 10_000) quotedNames.clear();
    quoted = `${JSON.stringify(name)}:`;
    quotedNames.set(name, quoted);
  }
  return quoted;
}

/**
 * The row as its document holds it: GEOMETRY columns become `{wkb, srid, geojson}`, where
 * `geojson` (for the `geo_shape` sub-field) is present only when the value can be a shape on the
 * globe: SRID 0 or 4326 (x as longitude, y as latitude, the order MariaDB stores), every
 * position within ±180/±90, not empty. `wkb` (base64) and `srid` are always there, exactly.
 */
export function documentRow(schema: TableSchema, row: Record<string, unknown>): Record<string, unknown> {
  const geometries = geometryColumns(schema);
  if (geometries.length === 0) return row;
  const out = { ...row };
  for (const name of geometries) {
    const value = row[name] as { wkb: Buffer | string; srid: number | bigint } | null | undefined;
    if (value == null) continue;
    const geojson = globeShape(Buffer.isBuffer(value.wkb) ? value.wkb : Buffer.from(value.wkb, 'base64'), Number(value.srid));
    out[name] = geojson ? { ...value, geojson } : value;
  }
  return out;
}

/** Per schema, once: this runs for every document, and most tables have no geometry at all. */
const geometryNames = new WeakMap<TableSchema, string[]>();

function geometryColumns(schema: TableSchema): string[] {
  let names = geometryNames.get(schema);
  if (!names) {
    names = schema.columns.filter((c) => c.kind === 'geometry').map((c) => c.name);
    geometryNames.set(schema, names);
  }
  return names;
}

function globeShape(wkb: Buffer, srid: number): GeoJsonGeometry | undefined {
  if (srid !== 0 && srid !== 4326) return undefined;
  let geometry: GeoJsonGeometry;
  try {
    geometry = wkbToGeoJson(wkb);
  } catch {
    return undefined;
  }
  const positions = positionsOf(geometry);
  if (positions.length === 0) return undefined;
  return positions.every(([x, y]) => Math.abs(x) <= 180 && Math.abs(y) <= 90) ? geometry : undefined;
}

/** Elasticsearch limits `_id` to 512 bytes. */
const MAX_ID_BYTES = 512;

/**
 * The document id of a row key, stable across replays and re-snapshots: a single-column key is
 * its value as text (numbers in decimal, binary as base64); a composite key is the JSON array of
 * those texts, so `(1,"2,3")` and `(1,2,3)` can never collide. Ids over 512 bytes are replaced by
 * `sha256:<hex>` of the same text.
 */
export function documentId(key: Record<string, unknown>): string {
  const parts = Object.values(key).map(keyPart);
  return idOfText(parts.length === 1 ? parts[0]! : JSON.stringify(parts));
}

/** A key's text as a document id: itself, or its hash when it is over Elasticsearch's limit. */
export function idOfText(id: string): string {
  return id.length <= MAX_ID_BYTES / 3 || Buffer.byteLength(id) <= MAX_ID_BYTES ? id : `sha256:${createHash('sha256').update(id).digest('hex')}`;
}

/**
 * The document id of a row of a keyless table: a hash of its non-null columns in name order, so
 * equal rows share one document and a nullable column added later does not change old ids.
 */
export function rowDocumentId(row: Record<string, unknown>): string {
  const present = Object.entries(row)
    .filter(([, value]) => value !== null && value !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `row:${createHash('sha256')
    .update(documentJson(Object.fromEntries(present)))
    .digest('hex')}`;
}

function keyPart(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (value instanceof JsonText) return value.text;
  return String(value);
}
