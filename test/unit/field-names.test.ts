import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schemaFingerprint, type ColumnDef, type TableSchema } from '../../src/core/change-event.ts';
import { checkFieldNames } from '../../src/sink/field-names.ts';

function schemaOf(...names: string[]): TableSchema {
  const columns = names.map((name): ColumnDef => ({ name, kind: 'string', sqlType: 'varchar(20)', optional: true }));
  return { database: 'shop', table: 'orders', columns, key: [], fingerprint: schemaFingerprint(columns, []) };
}

describe('column names as Elasticsearch field names', () => {
  it('accepts spaces, dashes, non-ASCII letters, leading digits and dotted paths', () => {
    assert.doesNotThrow(() => checkFieldNames(schemaOf('col with space', 'col-dash', 'ünïcode', '1st', 'a.b', 'a.c', '_private')));
  });

  for (const [names, column, why] of [
    [['id', '_id'], '_id', /metadata field/],
    [['_source'], '_source', /metadata field/],
    [[''], '', /empty/],
    [[' '], ' ', /empty/],
    [['.'], '.', /would be empty/],
    [['...'], '...', /would be empty/],
    [['.a'], '.a', /would be empty/],
    [['a.'], 'a.', /would be empty/],
    [['a..b'], 'a..b', /would be empty/],
    [['a', 'a.b'], 'a.b', /column "a" holds a value/],
    [['x.y.z', 'x.y'], 'x.y.z', /column "x.y" holds a value/],
  ] as const) {
    it(`refuses ${JSON.stringify(names)} naming ${JSON.stringify(column)}`, () => {
      assert.throws(
        () => checkFieldNames(schemaOf(...names)),
        (error: { code: string; message: string; hint: string; details: { table: string; column: string } }) => {
          assert.equal(error.code, 'FIELD_NAME_INVALID');
          assert.match(error.message, why);
          assert.deepEqual(error.details, { table: 'shop.orders', column });
          assert.match(error.hint, /TRANSFORMS_FIX_TYPE=rename/);
          return true;
        },
      );
    });
  }
});
