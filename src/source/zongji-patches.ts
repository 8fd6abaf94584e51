import { registerHooks } from 'node:module';

/**
 * Two helpers of zongji's row parsing, replaced as its module is loaded by equivalents that give
 * the same results (the unit test compares each with zongji's own), and one hook into its rows
 * events (below):
 * - `parseIEEE754Float` allocates an ArrayBuffer and a DataView for every FLOAT and DOUBLE value
 *   (2.4 % of the source's samples in the bench);
 * - `zeroPad` prefixes 32 zeros and cuts the string again, twice per DECIMAL value (3.2 %).
 * zongji is an ES module: its functions call each other by their local names, which no export can
 * replace, so the module's text is changed as it loads (a load hook, registered before the
 * commands' module graph is). A zongji whose text differs is loaded as it is, only slower.
 */

/** A module of zongji's lib/ folder, by its file name. */
const ZONGJI_LIB = /\/@vlasky\/zongji\/lib\/([a-z_]+\.js)$/;

const ZERO_PAD = `export const zeroPad = function(num, size) {
  // Max 32 digits
  const s = '00000000000000000000000000000000' + num;
  return s.substr(s.length-size);
};`;

const ZERO_PAD_PATCHED = `const ZERO_RUNS = Array.from({ length: 33 }, (_, n) => '0'.repeat(n));
export const zeroPad = function(num, size) {
  // patched by cdc: no 32-zero prefix to cut again (zongji pads to at most 9 digits; wider keeps its rule)
  const s = String(num);
  if (s.length >= size) return s.slice(s.length - size);
  if (size - s.length <= 32) return ZERO_RUNS[size - s.length] + s;
  const t = ZERO_RUNS[32] + s;
  return t.substr(t.length - size);
};`;

const IEEE754 = `export const parseIEEE754Float = function(high, low) {
  if (low !== undefined) {
    let value = new DataView(new ArrayBuffer(8));
    value.setUint32(0, high);
    value.setUint32(4, low);
    return value.getFloat64(0);
  } else {
    let value = new DataView(new ArrayBuffer(4));
    value.setUint32(0, high);
    return value.getFloat32(0);
  }
};`;

const IEEE754_PATCHED = `const IEEE754_VIEW = new DataView(new ArrayBuffer(8));
export const parseIEEE754Float = function(high, low) {
  // patched by cdc: one view for every value
  IEEE754_VIEW.setUint32(0, high);
  if (low === undefined) return IEEE754_VIEW.getFloat32(0);
  IEEE754_VIEW.setUint32(4, low);
  return IEEE754_VIEW.getFloat64(0);
};`;

const READ_ROW = 'const readRow = function(parser, tablemap, bitmap, zongji) {\n';

/**
 * zongji's rows event reads each row image with `readRow`; a table map that carries a `cdcReadRow`
 * (binlog-reader.ts puts one on every captured table's) has its rows read by that instead, straight
 * into canonical rows (binlog-row-reader.ts), with zongji's value reader for the types it leaves.
 */
const READ_ROW_PATCHED = `${READ_ROW}  // patched by cdc: the table's own row reader, when it has one
  if (tablemap.cdcReadRow !== undefined) return tablemap.cdcReadRow(parser, bitmap, zongji, Common.readMysqlValue);
`;

/** Whether zongji's rows events were loaded with the hook: only then may a table map carry a row reader. */
export let rowReadersHooked = false;

export function patchZongjiRowsEvent(source: string): string {
  return source.replace(READ_ROW, READ_ROW_PATCHED);
}

/** zongji's common.js with both helpers replaced; each one whose text is not found stays as it is. */
export function patchZongjiCommon(source: string): string {
  return source.replace(ZERO_PAD, ZERO_PAD_PATCHED).replace(IEEE754, IEEE754_PATCHED);
}

/** The patch of the zongji module at `url`, if this file patches it. */
export function zongjiPatchOf(url: string): ((source: string) => string) | undefined {
  const file = ZONGJI_LIB.exec(new URL(url).pathname)?.[1];
  return file === 'common.js' ? patchZongjiCommon : file === 'rows_event.js' ? patchZongjiRowsEvent : undefined;
}

function textOf(source: string | object): string {
  return typeof source === 'string' ? source : Buffer.from(source as Uint8Array).toString('utf8');
}

registerHooks({
  load(url, context, nextLoad) {
    const loaded = nextLoad(url, context);
    const patch = zongjiPatchOf(url);
    if (!patch || loaded.source === undefined || loaded.source === null) return loaded;
    const text = textOf(loaded.source);
    const source = patch(text);
    if (patch === patchZongjiRowsEvent) rowReadersHooked = source !== text;
    return { ...loaded, source };
  },
});
