import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { avroType } from '../../src/core/avro-types.ts';
import type { CdcError } from '../../src/core/errors.ts';
import { changedColumns, envelopeSchema, keySchema } from '../../src/source/avro-schema.ts';
import { canonicalValue, columnDef } from '../../src/source/column-types.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';

const def = (type: string, extra = {}) => columnDef('db.t', { COLUMN_NAME: 'c', COLUMN_TYPE: type, ...extra }, undefined, true);

describe('column kinds', () => {
  it('maps each type exactly', () => {
    const cases: Array<[string, string, object?]> = [
      ['tinyint', 'int32'],
      ['int', 'int32'],
      ['int unsigned', 'int64'],
      ['bigint', 'int64'],
      ['bigint unsigned', 'decimal', { precision: 20, scale: 0 }],
      ['decimal(65,30)', 'decimal', { precision: 65, scale: 30 }],
      ['float', 'float32'],
      ['double', 'float64'],
      ['bit(1)', 'boolean'],
      ['bit(8)', 'bytes'],
      ['varchar(255)', 'string'],
      ['longtext', 'string'],
      ['binary(16)', 'bytes'],
      ['date', 'date'],
      ['time(6)', 'time'],
      ['datetime(6)', 'datetime'],
      ['timestamp(3)', 'timestamp'],
      ['year', 'int32'],
      ['json', 'json'],
    ];
    for (const [type, kind, extra] of cases) {
      const column = def(type);
      assert.equal(column.kind, kind, type);
      if (extra) assert.deepEqual({ precision: column.precision, scale: column.scale }, extra, type);
    }
    assert.deepEqual(def("enum('a','b')", { ENUM_VALUES: ['a', 'b'] }).symbols, ['a', 'b']);
  });

  it('refuses types it cannot convert exactly, naming the column', () => {
    assert.throws(
      () => def('xmltype'),
      (e: unknown) => (e as CdcError).code === 'UNSUPPORTED_COLUMN_TYPE' && /db\.t\.c has type xmltype/.test((e as Error).message),
    );
  });

  it('gives canonical values', () => {
    assert.equal(canonicalValue(def('date'), '0000-00-00'), null);
    assert.equal(canonicalValue(def('date'), '2024-00-10'), null);
    assert.equal(canonicalValue(def('datetime(0)'), '2024-01-02 03:04:05'), '2024-01-02T03:04:05.000000');
    assert.equal(canonicalValue(def('timestamp(3)'), '2024-01-02 03:04:05.125'), '2024-01-02T03:04:05.125000Z');
    assert.equal(canonicalValue(def('time(2)'), '-838:59:59.5'), '-838:59:59.500000');
    assert.equal(canonicalValue(def('bigint'), '-9223372036854775808'), -(2n ** 63n));
    assert.equal(canonicalValue(def('bigint unsigned'), '18446744073709551615'), '18446744073709551615');
    assert.equal(canonicalValue(def('bit(1)'), Buffer.from([1])), true);
    assert.equal(canonicalValue(def('year'), 1900), 0, 'zongji reads YEAR 0000 as 1900');
    assert.equal(canonicalValue(def('year'), 2155), 2155);
    assert.equal(canonicalValue(def('datetime(6)'), '2024-01-02 03:04:05.123456'), '2024-01-02T03:04:05.123456');
    assert.equal(canonicalValue(def('date'), '0000-01-01'), null, 'year zero names no day');
    assert.equal(canonicalValue(def('date'), '0001-01-01'), '0001-01-01');
    assert.equal(canonicalValue(def('date'), '2000-10-10'), '2000-10-10');
    assert.equal(canonicalValue(def('date'), '2000-01-00'), null);
  });

  it('turns zero and partial dates into null or the sentinel (ZERO_DATES), and key columns always into the sentinel', () => {
    const sentinel = { mode: 'sentinel', sentinel: '1999-12-31' } as const;
    const nulls = { mode: 'null', sentinel: '1999-12-31' } as const;
    const column = (type: string, optional: boolean, rule: typeof sentinel | typeof nulls) => columnDef('db.t', { COLUMN_NAME: 'c', COLUMN_TYPE: type }, undefined, optional, rule);
    for (const zero of ['0000-00-00', '2024-00-10', '2024-05-00']) {
      assert.equal(canonicalValue(column('date', true, nulls), zero), null);
      assert.equal(canonicalValue(column('date', true, sentinel), zero), '1999-12-31');
      assert.equal(canonicalValue(column('date', false, nulls), zero), '1999-12-31', 'a key column is never null');
      assert.equal(canonicalValue(column('datetime(6)', true, sentinel), `${zero} 00:00:00`), '1999-12-31T00:00:00.000000');
      assert.equal(canonicalValue(column('datetime', false, nulls), `${zero} 10:00:00`), '1999-12-31T00:00:00.000000');
      assert.equal(canonicalValue(column('timestamp(3)', true, sentinel), `${zero} 00:00:00.000`), '1999-12-31T00:00:00.000000Z');
      assert.equal(canonicalValue(column('timestamp', true, nulls), `${zero} 00:00:00`), null);
    }
    assert.equal(canonicalValue(column('date', true, sentinel), '2024-02-29'), '2024-02-29', 'real dates are untouched');
    assert.equal(canonicalValue(column('date', true, sentinel), null), null, 'NULL stays NULL');
    assert.equal(column('time', false, sentinel).zeroDate, undefined, 'TIME 00:00:00 is a real value');
    const table = deriveTableSchema(
      'db',
      't',
      [
        { COLUMN_NAME: 'd', COLUMN_TYPE: 'date' },
        { COLUMN_NAME: 'e', COLUMN_TYPE: 'date' },
      ],
      [],
      [0],
    );
    assert.deepEqual(
      table.columns.map((c) => c.zeroDate),
      ['1970-01-01', undefined],
      'default: null, key columns 1970-01-01',
    );
    // The sentinel is a valid Avro date in the key record, where null would not encode.
    assert.ok(avroType(keySchema('p', table) as never).isValid({ d: '1970-01-01' }));
  });

  it('turns the text of MariaDB UUID/INET4/INET6 (a SELECT) into the bytes the binlog carries', () => {
    const hex = (type: string, text: string) => (canonicalValue(def(type), text) as Buffer).toString('hex');
    assert.equal(hex('uuid', '123e4567-e89b-12d3-a456-426614174000'), '123e4567e89b12d3a456426614174000');
    assert.equal(hex('inet4', '192.168.0.1'), 'c0a80001');
    assert.equal(hex('inet6', '2001:db8::ff00:42:8329'), '20010db8000000000000ff0000428329');
    assert.equal(hex('inet6', '::'), '0'.repeat(32));
    assert.equal(hex('inet6', '::ffff:1.2.3.4'), '00000000000000000000ffff01020304');
    assert.equal(hex('inet6', '1::'), `0001${'0'.repeat(28)}`);
    assert.equal(hex('binary(4)', 'ab'), '6162');
  });
});

describe('Avro schemas of a table', () => {
  const table = deriveTableSchema(
    'shop',
    'order-lines',
    [
      { COLUMN_NAME: 'order_id', COLUMN_TYPE: 'int' },
      { COLUMN_NAME: 'line-no', COLUMN_TYPE: 'smallint' },
      { COLUMN_NAME: '1st note', COLUMN_TYPE: 'varchar(20)' },
      { COLUMN_NAME: 'amount', COLUMN_TYPE: 'decimal(10,2)' },
    ],
    [3, 2, 15, 246],
    [0, 1],
  );

  it('are valid Avro, key columns required, others optional with default null', () => {
    const envelope = envelopeSchema('cdc', table);
    const key = keySchema('cdc', table)!;
    avroType(envelope as never);
    avroType(key as never);
    const value = (envelope.fields as Array<{ name: string; type: unknown[] }>).find((f) => f.name === 'before')!.type[1] as { fields: Array<{ name: string; type: unknown; default?: unknown }> };
    assert.deepEqual(
      value.fields.map((f) => f.name),
      ['order_id', 'line_no', '_1st_note', 'amount'],
    );
    assert.deepEqual(value.fields[0]!.type, 'int');
    assert.deepEqual(value.fields[2]!.type, ['null', 'string']);
    assert.equal(value.fields[2]!.default, null);
    assert.deepEqual(
      (key.fields as Array<{ name: string }>).map((f) => f.name),
      ['order_id', 'line_no'],
    );
    assert.equal(envelope.namespace, 'cdc.shop.order_lines');
  });

  it('refuses two columns that adjust to the same Avro name', () => {
    const clash = deriveTableSchema(
      'd',
      't',
      [
        { COLUMN_NAME: 'a-b', COLUMN_TYPE: 'int' },
        { COLUMN_NAME: 'a_b', COLUMN_TYPE: 'int' },
      ],
      [3, 3],
      [],
    );
    assert.throws(() => envelopeSchema('cdc', clash), /both map to the Avro field a_b/);
  });
});

describe('changed columns between two schema versions', () => {
  it('names added, dropped and retyped columns of the envelope and of the key', () => {
    const v1 = deriveTableSchema(
      'db',
      't',
      [
        { COLUMN_NAME: 'id', COLUMN_TYPE: 'int' },
        { COLUMN_NAME: 'qty', COLUMN_TYPE: 'int' },
        { COLUMN_NAME: 'note', COLUMN_TYPE: 'text' },
      ],
      [],
      [0],
    );
    const v2 = deriveTableSchema(
      'db',
      't',
      [
        { COLUMN_NAME: 'id', COLUMN_TYPE: 'int' },
        { COLUMN_NAME: 'qty', COLUMN_TYPE: 'varchar(20)' },
        { COLUMN_NAME: 'extra', COLUMN_TYPE: 'int' },
      ],
      [],
      [0],
    );
    assert.deepEqual(changedColumns(envelopeSchema('p', v1), envelopeSchema('p', v2)), ['qty: ["null","int"] → ["null","string"]', 'extra: added', 'note: dropped']);
    assert.deepEqual(changedColumns(keySchema('p', v1)!, keySchema('p', v2)!), []);
  });
});
