import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lossyCounts } from '../../src/source/lossy-values.ts';
import { canonicalRow } from '../../src/source/table-reader.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';

describe('values a column cannot hold', () => {
  const schema = deriveTableSchema(
    'db',
    'edge',
    [
      { COLUMN_NAME: 'id', COLUMN_TYPE: 'int' },
      { COLUMN_NAME: 'en', COLUMN_TYPE: "enum('a','b')", ENUM_VALUES: ['a', 'b'] },
      { COLUMN_NAME: 'blank', COLUMN_TYPE: "enum('a','')", ENUM_VALUES: ['a', ''] },
      { COLUMN_NAME: 'u', COLUMN_TYPE: 'varchar(20)' },
    ],
    [],
    [0],
  );

  it("reads an ENUM's error value as '' on both paths and counts each replacement once per row image", () => {
    // The binlog reader finds no symbol for index 0 (undefined); a SELECT returns ''.
    const binlog = canonicalRow(schema, { id: 1, en: undefined, blank: undefined, u: Buffer.from([0x41, 0xed, 0xa0, 0x80]).toString('utf8') });
    const select = canonicalRow(schema, { id: 1, en: '', blank: '', u: 'A\uFFFD\uFFFD\uFFFD' });
    assert.deepEqual(binlog, select);
    assert.deepEqual(binlog, { id: 1, en: '', blank: '', u: 'A\uFFFD\uFFFD\uFFFD' });
    assert.equal(canonicalRow(schema, { id: 2, en: null, blank: null, u: null }).en, null, 'NULL stays null');
    const counts = [...lossyCounts()].filter((c) => c.table === 'db.edge').map(({ column, kind, count }) => `${column}:${kind}:${count}`);
    // '' is one of `blank`'s own values: not a replacement there.
    assert.deepEqual(counts.sort(), ['en:enum_error:2', 'u:invalid_utf8:2']);
  });
});
