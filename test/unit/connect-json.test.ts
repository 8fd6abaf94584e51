import assert from 'node:assert/strict';
import type { KafkaMessage } from 'kafkajs';
import { describe, it } from 'node:test';
import { JsonText } from '../../src/core/avro-types.ts';
import { type ColumnDef, schemaFingerprint, type TableSchema } from '../../src/core/change-event.ts';
import { JsonChangeReader } from '../../src/core/connect-json-reader.ts';
import type { ConnectSchema } from '../../src/core/connect-types.ts';
import { isJsonRecord, jsonRecord } from '../../src/core/json-record.ts';
import { envelopeSchema, keySchema } from '../../src/source/avro-schema.ts';
import { RecordDecoder } from '../../src/sink/record-decoder.ts';
import { ConnectJsonTable } from '../../src/source/connect-schema.ts';
import { column } from '../helpers/change-events.ts';

function table(columns: ColumnDef[], key: string[]): TableSchema {
  return { database: 'shop', table: 'items', columns, key, fingerprint: schemaFingerprint(columns, key) };
}

const COLUMNS = [
  column('id', 'bigint', {}, false),
  column('ti', 'tinyint'),
  column('si', 'smallint'),
  column('su', 'smallint unsigned'),
  column('i', 'int'),
  column('iu', 'int unsigned'),
  column('bu', 'bigint unsigned'),
  column('d', 'decimal(10,4)'),
  column('f', 'float'),
  column('db', 'double'),
  column('b1', 'bit(1)'),
  column('b12', 'bit(12)'),
  column('s', 'varchar(20)'),
  column('e', "enum('a','b')", { ENUM_VALUES: ['a', 'b'] }),
  column('st', "set('x','y')", { SET_VALUES: ['x', 'y'] }),
  column('bin', 'varbinary(8)'),
  column('dt', 'date'),
  column('tm', 'time(6)'),
  column('dtm', 'datetime(6)'),
  column('ts', 'timestamp(6)'),
  column('y', 'year'),
  column('j', 'json'),
  column('g', 'point'),
];

const ROW = {
  id: 2n ** 63n - 1n,
  ti: -128,
  si: -32768,
  su: 65535,
  i: -2147483648,
  iu: 4294967295n,
  bu: '18446744073709551615',
  d: '-123456.7890',
  f: 1.5,
  db: -2.5e-300,
  b1: true,
  b12: Buffer.from([0x0a, 0xbc]),
  s: 'ü"\\',
  e: 'b',
  st: 'x,y',
  bin: Buffer.from([0, 255, 1]),
  dt: '1969-12-31',
  tm: '-838:59:59.000001',
  dtm: '9999-12-31T23:59:59.999999',
  ts: '1970-01-01T00:00:00.000001Z',
  y: 2155,
  j: '{"n":12345678901234567890}',
  g: { wkb: Buffer.from('0101000000000000000000f03f0000000000000040', 'hex'), srid: 4326 },
};

const fieldOf = (schema: ConnectSchema, name: string) => schema.fields!.find((f) => f.field === name)!;

describe('VALUE_CONVERTER=json: Kafka Connect JsonConverter records', () => {
  const items = table(COLUMNS, ['id']);
  const connect = new ConnectJsonTable('cdc', items, false);

  it('writes Connect struct schemas with the Connect and Debezium type names', () => {
    const envelope = connect.valueSchema;
    assert.equal(envelope.type, 'struct');
    assert.equal(envelope.name, 'cdc.shop.items.Envelope');
    const after = fieldOf(envelope, 'after');
    assert.equal(after.name, 'cdc.shop.items.Value');
    assert.equal(after.optional, true);
    const types = Object.fromEntries(after.fields!.map((f) => [f.field, [f.type, f.name ?? null, f.parameters ?? null]]));
    assert.deepEqual(types, {
      id: ['int64', null, null],
      ti: ['int16', null, null],
      si: ['int16', null, null],
      su: ['int32', null, null],
      i: ['int32', null, null],
      iu: ['int64', null, null],
      bu: ['bytes', 'org.apache.kafka.connect.data.Decimal', { scale: '0', 'connect.decimal.precision': '20' }],
      d: ['bytes', 'org.apache.kafka.connect.data.Decimal', { scale: '4', 'connect.decimal.precision': '10' }],
      f: ['float', null, null],
      db: ['double', null, null],
      b1: ['boolean', null, null],
      b12: ['bytes', 'io.debezium.data.Bits', { length: '12' }],
      s: ['string', null, null],
      e: ['string', 'io.debezium.data.Enum', { allowed: 'a,b' }],
      st: ['string', 'io.debezium.data.EnumSet', { allowed: 'x,y' }],
      bin: ['bytes', null, null],
      dt: ['int32', 'io.debezium.time.Date', null],
      tm: ['int64', 'io.debezium.time.MicroTime', null],
      dtm: ['int64', 'io.debezium.time.MicroTimestamp', null],
      ts: ['string', 'io.debezium.time.ZonedTimestamp', null],
      y: ['int32', 'io.debezium.time.Year', null],
      j: ['string', 'io.debezium.data.Json', null],
      g: ['struct', 'io.debezium.data.geometry.Geometry', null],
    });
    assert.equal(fieldOf(after, 'id').optional, false);
    const source = fieldOf(envelope, 'source');
    assert.equal(source.type, 'struct');
    assert.deepEqual(fieldOf(source, 'snapshot'), {
      type: 'string',
      optional: false,
      name: 'io.debezium.data.Enum',
      version: 1,
      parameters: { allowed: 'true,last,false,incremental' },
      field: 'snapshot',
      default: 'false',
    });
    assert.deepEqual(fieldOf(source, 'pos'), { type: 'int64', optional: false, field: 'pos' });
    assert.equal(fieldOf(envelope, 'transaction').optional, true);
    assert.deepEqual(connect.keySchema, { type: 'struct', fields: [{ type: 'int64', optional: false, field: 'id' }], optional: false, name: 'cdc.shop.items.Key' });
  });

  it('writes payloads as Debezium does: decimals as base64 unscaled, days, microseconds, little-endian bits', () => {
    const buffer = connect.value({ before: null, after: ROW, source: { db: 'shop' }, op: 'c', ts_ms: 1 });
    assert.ok(isJsonRecord(buffer));
    const parsed = JSON.parse(buffer.toString('utf8'), (_k, v, ctx?: { source?: string }) =>
      typeof v === 'number' && ctx?.source && !Number.isSafeInteger(v) && /^-?\d+$/.test(ctx.source) ? ctx.source : v,
    );
    const after = parsed.payload.after;
    assert.equal(after.id, '9223372036854775807', 'int64 written as an exact JSON integer');
    assert.equal(after.d, Buffer.from((-1234567890n + 2n ** 32n).toString(16), 'hex').toString('base64'), 'two’s complement of -1234567890');
    assert.equal(after.dt, -1);
    assert.equal(after.tm, -(838 * 3600 + 59 * 60 + 59) * 1_000_000 - 1);
    assert.equal(after.dtm, '253402300799999999');
    assert.equal(after.ts, '1970-01-01T00:00:00.000001Z');
    assert.equal(after.b12, Buffer.from([0xbc, 0x0a]).toString('base64'));
    assert.equal(after.j, '{"n":12345678901234567890}', 'JSON columns are JSON text in a string (io.debezium.data.Json)');
    assert.deepEqual(after.g, { wkb: ROW.g.wkb.toString('base64'), srid: 4326 });
    assert.equal(parsed.payload.before, null);
  });

  it('reads back exactly the canonical values it wrote, keys included', () => {
    const reader = new JsonChangeReader();
    const record = reader.value(connect.value({ before: ROW, after: null, source: { db: 'shop' }, op: 'd', ts_ms: 1 }));
    assert.deepEqual(record.payload.before, { ...ROW, j: new JsonText(ROW.j) });
    assert.equal(record.payload.after, null);
    const kinds = Object.fromEntries(record.columns!.map((c) => [c.name, c.kind]));
    assert.deepEqual(kinds, Object.fromEntries(COLUMNS.map((c) => [c.name, c.kind])), 'the sink derives the same column kinds from the Connect schema');
    assert.deepEqual(reader.key(connect.key({ id: 2n ** 63n - 1n })), { id: 2n ** 63n - 1n });
  });

  it('builds the schema text once per table version and splices payloads into it', () => {
    const a = connect.value({ before: null, after: { ...ROW, s: 'a' }, op: 'c' }).toString();
    const b = connect.value({ before: null, after: { ...ROW, s: 'b' }, op: 'c' }).toString();
    const schemaText = `{"schema":${JSON.stringify(connect.valueSchema)},"payload":`;
    assert.ok(a.startsWith(schemaText) && b.startsWith(schemaText));
    const flat = new ConnectJsonTable('cdc', items, true);
    assert.equal(flat.valueSchema.name, 'cdc.shop.items.Value');
    assert.deepEqual(new JsonChangeReader().value(flat.value(ROW)).payload, { ...ROW, j: new JsonText(ROW.j) });
  });

  it('the sink decodes them into a change with canonical rows and the column kinds of the source', () => {
    const source = { db: 'shop', table: 'items', file: 'bin.000001', pos: 4, row: 0, ts_ms: 1, gtid: null, snapshot: 'false', server_id: 7 };
    const message = { key: connect.key({ id: 5n }), value: connect.value({ before: null, after: ROW, source, op: 'c', ts_ms: 1 }) };
    const change = new RecordDecoder(undefined).decode(message as unknown as KafkaMessage, 'cdc.shop.items');
    assert.equal(change?.op, 'c');
    assert.deepEqual(change?.key, { id: 5n });
    assert.deepEqual(change?.after, { ...ROW, j: new JsonText(ROW.j) });
    assert.equal(change?.position.file, 'bin.000001');
    assert.deepEqual(
      change?.schema.columns.map((c) => c.kind),
      COLUMNS.map((c) => c.kind),
    );
  });

  it("carries a renamed field's column name as a parameter, and the sink names the column by it", () => {
    const odd = table([column('id', 'int', {}, false), column('col with space', 'varchar(9)'), column('1st', 'int')], ['id']);
    const json = new ConnectJsonTable('cdc', odd, false);
    const after = json.valueSchema.fields!.find((f) => f.field === 'after')!;
    assert.deepEqual(
      after.fields!.map((f) => [f.field, f.parameters?.['__debezium.source.column.name']]),
      [
        ['id', undefined],
        ['col_with_space', 'col with space'],
        ['_1st', '1st'],
      ],
    );
    const source = { db: 'shop', table: 'odd', file: 'bin.000001', pos: 4, row: 0, ts_ms: 1, gtid: null, snapshot: 'false', server_id: 7 };
    const value = json.value({ before: null, after: { id: 1, col_with_space: 'x', _1st: 2 }, source, op: 'c', ts_ms: 1 });
    const change = new RecordDecoder(undefined).decode({ key: json.key({ id: 1 }), value } as unknown as KafkaMessage, 'cdc.shop.odd');
    assert.deepEqual(change?.after, { id: 1, 'col with space': 'x', '1st': 2 });
    assert.deepEqual(
      change?.schema.columns.map((c) => c.name),
      ['id', 'col with space', '1st'],
    );
  });

  it('still reads records written before the Connect format (the Avro schema in "schema")', () => {
    const old = jsonRecord(JSON.stringify(envelopeSchema('cdc', items)), '{"before":null,"after":{"id":9223372036854775807,"d":"-1.5000","j":{"n":1}},"op":"c"}');
    const record = new JsonChangeReader().value(old);
    assert.equal(record.columns, undefined);
    assert.equal((record.avroSchema as { name: string }).name, 'Envelope');
    assert.deepEqual(record.payload.after, { id: 2n ** 63n - 1n, d: '-1.5000', j: { n: 1 } });
  });
});

describe('Avro schemas carry Connect annotations (as Confluent AvroConverter writes them for Debezium)', () => {
  const avro = envelopeSchema('cdc', table(COLUMNS, ['id']));
  const value = ((avro.fields as Array<{ name: string; type: unknown[] }>).find((f) => f.name === 'before')!.type[1] as { fields: Array<{ name: string; type: unknown }> }).fields;
  const typeOf = (name: string) => (value.find((f) => f.name === name)!.type as unknown[])[1];

  it('names the Connect type of each column', () => {
    assert.deepEqual(typeOf('d'), {
      type: 'bytes',
      logicalType: 'decimal',
      precision: 10,
      scale: 4,
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      'connect.version': 1,
      'connect.parameters': { scale: '4', 'connect.decimal.precision': '10' },
    });
    assert.deepEqual(typeOf('ti'), { type: 'int', 'connect.type': 'int16' });
    assert.deepEqual(typeOf('e'), { type: 'string', 'connect.name': 'io.debezium.data.Enum', 'connect.version': 1, 'connect.parameters': { allowed: 'a,b' } });
    assert.deepEqual(typeOf('dt'), { type: 'int', logicalType: 'date', 'connect.name': 'org.apache.kafka.connect.data.Date', 'connect.version': 1 });
    assert.deepEqual(typeOf('tm'), { type: 'long', logicalType: 'time-micros', 'connect.name': 'io.debezium.time.MicroTime', 'connect.version': 1 });
    assert.deepEqual(typeOf('j'), { type: 'string', logicalType: 'json', 'connect.name': 'io.debezium.data.Json', 'connect.version': 1 });
    assert.equal(typeOf('i'), 'int');
    assert.equal(typeOf('b12'), 'bytes', 'BIT(n) stays big-endian bytes in Avro: no Bits annotation');
    const source = (avro.fields as Array<{ name: string; type: { fields: Array<{ name: string; type: unknown }> } }>).find((f) => f.name === 'source')!.type;
    assert.equal((source.fields.find((f) => f.name === 'snapshot')!.type as Record<string, unknown>)['connect.default'], 'false');
    assert.deepEqual(keySchema('cdc', table(COLUMNS, ['id'])), { type: 'record', name: 'Key', namespace: 'cdc.shop.items', fields: [{ name: 'id', type: 'long' }] });
  });
});
