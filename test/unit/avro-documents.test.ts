import assert from 'node:assert/strict';
import type { Type } from 'avsc';
import type { KafkaMessage } from 'kafkajs';
import { describe, it } from 'node:test';
import { avroType, formatUnscaled } from '../../src/core/avro-types.ts';
import { encodeFramed } from '../../src/core/avro-wire.ts';
import { type Row, schemaFingerprint, type TableSchema } from '../../src/core/change-event.ts';
import type { Registry } from '../../src/core/schema-registry.ts';
import { envelopeSchema, keySchema } from '../../src/source/avro-schema.ts';
import { envelopeRenderer, keyIdReader } from '../../src/sink/avro-documents.ts';
import { documentId } from '../../src/sink/document.ts';
import { JsonBytes } from '../../src/sink/json-bytes.ts';
import { oneLineJsonText } from '../../src/core/exact-json.ts';
import { actionsOf, planActions } from '../../src/sink/record-actions.ts';
import { column, sinkRecordSettings } from '../helpers/change-events.ts';
import { RecordDecoder } from '../../src/sink/record-decoder.ts';
import { seededRandom as random, pick } from '../helpers/seeded-random.ts';

/**
 * The sink's direct path (Avro bytes → document JSON text) against the decoding path (avsc → row
 * object → documentJson): the same actions, to the byte, for every column type our source writes.
 */

const COLUMNS = [
  column('id', 'bigint', {}, false),
  column('ti', 'tinyint'),
  column('iu', 'int unsigned'),
  column('bu', 'bigint unsigned'),
  column('d', 'decimal(10,4)'),
  column('wide', 'decimal(65,30)'),
  column('f', 'float'),
  column('db', 'double'),
  column('b1', 'bit(1)'),
  column('b12', 'bit(12)'),
  column('s', 'varchar(20)'),
  column('col with space', 'varchar(20)'),
  column('1st', 'int'),
  column('e', "enum('a','b')", { ENUM_VALUES: ['a', 'b'] }),
  column('bin', 'varbinary(8)'),
  column('dt', 'date'),
  column('tm', 'time(6)'),
  column('dtm', 'datetime(6)'),
  column('ts', 'timestamp(6)'),
  column('j', 'json'),
];

const TABLE: TableSchema = { database: 'shop', table: 'items', columns: COLUMNS, key: ['id'], fingerprint: schemaFingerprint(COLUMNS, ['id']) };

const digits = (next: () => number, count: number) => Array.from({ length: count }, () => Math.floor(next() * 10)).join('');
const pad = (n: number, width: number) => String(n).padStart(width, '0');

function datetime(next: () => number): string {
  const year = pick(next, [1000, 1400, 1685, 1969, 1970, 2024, 2254, 2300, 9999]);
  const day = `${pad(year, 4)}-${pad(1 + Math.floor(next() * 12), 2)}-${pad(1 + Math.floor(next() * 28), 2)}`;
  return pick(next, [
    `${day}T00:00:00.000000`,
    `${day}T23:59:59.999999`,
    `${day}T${pad(Math.floor(next() * 24), 2)}:${pad(Math.floor(next() * 60), 2)}:${pad(Math.floor(next() * 60), 2)}.${digits(next, 6)}`,
  ]);
}

/** A canonical value of each column (ColumnKind's table in change-event.ts), edges included, or null. */
function row(next: () => number, id: bigint): Row {
  const maybe = <T>(value: T): T | null => (next() < 0.1 ? null : value);
  const sign = () => (next() < 0.5 ? '-' : '');
  return {
    id,
    ti: maybe(pick(next, [-128, 0, 127])),
    iu: maybe(pick(next, [0n, 4_294_967_295n, BigInt(Math.floor(next() * 1e9))])),
    bu: maybe(pick(next, ['0', '18446744073709551615', digits(next, 1 + Math.floor(next() * 19)).replace(/^0+(?=\d)/, '')])),
    d: maybe(pick(next, ['0.0000', '-0.0001', '999999.9999', `${sign()}${digits(next, 3).replace(/^0+(?=\d)/, '')}.${digits(next, 4)}`])),
    wide: maybe(`${sign()}${digits(next, 35).replace(/^0+(?=\d)/, '')}.${digits(next, 30)}`),
    f: maybe(pick(next, [Math.fround(next() * 1e6), Number.NaN, Number.POSITIVE_INFINITY, -0, Math.fround(1e-40)])),
    db: maybe(pick(next, [next() * 1e300, -2.5e-300, Number.NEGATIVE_INFINITY, 2 ** 53 + 2, 0.1])),
    b1: maybe(next() < 0.5),
    b12: maybe(Buffer.from([Math.floor(next() * 16), Math.floor(next() * 256)])),
    s: maybe(pick(next, ['', 'ü"\\', 'tab\there\nline', '\u0000\u001f\u2028', '😀 emoji', 'plain text'])),
    'col with space': maybe('x'),
    '1st': maybe(Math.floor(next() * 2 ** 31) - 2 ** 30),
    e: maybe(pick(next, ['a', 'b'])),
    bin: maybe(Buffer.from(Array.from({ length: Math.floor(next() * 9) }, () => Math.floor(next() * 256)))),
    dt: maybe(pick(next, ['1969-12-31', '1970-01-01', '0001-01-01', '9999-12-31', '2024-02-29'])),
    tm: maybe(pick(next, ['-838:59:59.000001', '00:00:00.000000', '838:59:59.000000', `${pad(Math.floor(next() * 24), 2)}:30:00.${digits(next, 6)}`])),
    dtm: maybe(datetime(next)),
    ts: maybe(`${datetime(next)}Z`),
    j: maybe(pick(next, ['{"n":12345678901234567890}', '{\n  "pretty": [1, 2]\n}', '[]', '"text"', 'null'])),
  };
}

const SOURCE = {
  version: '1',
  connector: 'mariadb',
  name: 'cdc',
  source_id: 's',
  ts_ms: 1_700_000_000_000n,
  snapshot: 'false',
  db: 'shop',
  table: 'items',
  server_id: 7n,
  gtid: null,
  file: 'bin.000001',
  epoch: 0,
};

function decoderOf(types: Map<number, Type>): RecordDecoder {
  return new RecordDecoder({ avroType: async (id: number) => types.get(id)! } as unknown as Registry);
}

describe('sink documents straight from Avro bytes', () => {
  const valueType = avroType(envelopeSchema('cdc', TABLE) as never);
  const keyType = avroType(keySchema('cdc', TABLE) as never);
  const types = new Map([
    [1, valueType],
    [2, keyType],
  ]);

  it('renders every column type as the decoding path does, for inserts, updates, deletes and snapshot reads', async () => {
    assert.ok(envelopeRenderer(valueType), 'the envelope of every column type but GEOMETRY renders directly');
    const next = random(20261205);
    const messages: KafkaMessage[] = [];
    for (let i = 0; i < 2000; i++) {
      const id = pick(next, [BigInt(i), 2n ** 63n - 1n - BigInt(i), -(2n ** 63n) + BigInt(i), 2n ** 48n + BigInt(i), -(2n ** 48n) - BigInt(i)]);
      const op = pick(next, ['c', 'u', 'd', 'r'] as const);
      const before = op === 'u' || op === 'd' ? row(next, id) : null;
      const after = op === 'd' ? null : row(next, id);
      const source = { ...SOURCE, pos: BigInt(4 + i * 100), row: i % 7 };
      const envelope = { before, after, source, op, ts_ms: null };
      messages.push({ key: Buffer.from(encodeFramed(2, keyType, { id })), value: Buffer.from(encodeFramed(1, valueType, envelope)), offset: String(i) } as unknown as KafkaMessage);
    }
    const decoder = decoderOf(types);
    await decoder.prepare(messages);
    const decoded = sinkRecordSettings();
    const rendered = sinkRecordSettings({ renderDocuments: true });
    for (const message of messages) {
      const change = decoder.decode(message, 'cdc.shop.items', true);
      assert.ok(change && 'document' in change, 'a keyed Avro change is rendered');
      const direct = planActions(change, rendered, 'origin');
      assert.ok(typeof direct !== 'string' && !('actions' in direct) && (direct.document === null || Buffer.isBuffer(direct.document)), 'one action, its document as bytes');
      // The bytes (its range of a shared block), as UTF-8, are the decoding path's text.
      const { schema, start, end, ...action } = direct;
      assert.deepEqual(
        { index: action.index, schema, actions: [{ ...action, document: (direct.document as Buffer | null)?.subarray(start, end).toString() ?? null }] },
        actionsOf(decoder.decode(message, 'cdc.shop.items'), decoded, 'origin'),
      );
    }
  });

  it('reads the document id of a one-column key from its bytes as documentId writes the decoded key', async () => {
    const columns = [column('code', 'varchar(700)', {}, false), column('n', 'int')];
    const table = { ...TABLE, columns, key: ['code'], fingerprint: schemaFingerprint(columns, ['code']) };
    const value = avroType(envelopeSchema('cdc', table) as never);
    const key = avroType(keySchema('cdc', table) as never);
    assert.ok(keyIdReader(key) && keyIdReader(keyType), 'string and long keys are read directly');
    const decoder = decoderOf(
      new Map([
        [1, value],
        [2, key],
      ]),
    );
    for (const code of ['', 'a,b', 'ü"\\', '😀', 'é'.repeat(300), 'x'.repeat(512), 'x'.repeat(513)]) {
      const message = {
        key: Buffer.from(encodeFramed(2, key, { code })),
        value: Buffer.from(encodeFramed(1, value, { before: null, after: { code, n: 1 }, source: { ...SOURCE, pos: 4n, row: 0 }, op: 'c', ts_ms: null })),
      } as unknown as KafkaMessage;
      await decoder.prepare([message]);
      const change = decoder.decode(message, 't', true);
      assert.ok(change && 'id' in change);
      assert.equal(change.id, documentId({ code }), `${code.length} characters`);
    }
  });

  it('writes text as JSON exactly as JSON.stringify and oneLineJsonText write its decoded string, also across a block move', () => {
    const texts = [
      [0x61, 0x62],
      [0x22, 0x5c],
      [0x09, 0x0a, 0x0d, 0x00, 0x1f],
      [0xc3, 0xbc],
      [0xf0, 0x9f, 0x98, 0x80],
      [0x61, 0xff, 0x62],
      [0xe2, 0x82],
      [0xed, 0xa0, 0x80],
      [0x7b, 0x0d, 0x0a, 0x7d],
    ].map((bytes) => Buffer.from(bytes));
    texts.push(Buffer.from(`{"long":"${'é'.repeat(100)}"\n}`));
    for (const text of texts) {
      const out = new JsonBytes(4);
      out.begin();
      out.ascii('[');
      out.jsonString(text, 0, text.length);
      out.byte(0x2c);
      out.jsonText(text, 0, text.length);
      out.byte(0x5d);
      const decoded = text.toString('utf8');
      assert.equal(out.end().toString('utf8'), `[${JSON.stringify(decoded)},${oneLineJsonText(decoded)}]`, JSON.stringify([...text]));
    }
  });

  it('leaves a block grown for a large document to it: the next document starts a block of the usual size', () => {
    const out = new JsonBytes();
    out.begin();
    out.ascii('"small"');
    const small = out.end();
    const large = Buffer.alloc(600_000, 0x61);
    out.begin();
    out.jsonString(large, 0, large.length);
    const big = out.end();
    out.begin();
    out.ascii('"next"');
    const next = out.end();
    assert.equal(big.length, 600_002);
    assert.equal(big.toString(), `"${'a'.repeat(600_000)}"`);
    assert.equal(small.toString(), '"small"');
    assert.notEqual(next.buffer, big.buffer, 'the next document is not in the large block');
    assert.equal(next.buffer.byteLength, 256 * 1024);
    assert.equal(next.toString(), '"next"');
  });

  it('writes integers and decimals as String and formatUnscaled do', () => {
    const next = random(7);
    const out = new JsonBytes(16);
    for (let i = 0; i < 5000; i++) {
      const n = pick(next, [0, -1, 9, 10, -10, 99, 100, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Math.floor(next() * 2 ** 53) - 2 ** 52, Math.floor(next() * 1e6)]);
      const scale = Math.floor(next() * 8);
      const small = Math.trunc(n / 1000);
      out.begin();
      out.integer(n);
      out.byte(0x20);
      out.decimal(small, scale);
      out.byte(0x20);
      out.padded(Math.abs(small) % 1_000_000, 6);
      assert.equal(out.end().toString(), `${n} ${formatUnscaled(small, scale)} ${String(Math.abs(small) % 1_000_000).padStart(6, '0')}`);
    }
  });

  it('refuses a truncated record or trailing bytes as DECODE_FAILED, like the decoding path', async () => {
    const decoder = decoderOf(types);
    const value = Buffer.from(encodeFramed(1, valueType, { before: null, after: row(random(1), 1n), source: { ...SOURCE, pos: 4n, row: 0 }, op: 'c', ts_ms: null }));
    const key = Buffer.from(encodeFramed(2, keyType, { id: 1n }));
    const broken = [value.subarray(0, value.length - 3), Buffer.concat([value, Buffer.from([0])])];
    await decoder.prepare(broken.map((v) => ({ key, value: v }) as unknown as KafkaMessage));
    for (const v of broken) {
      const message = { key, value: v } as unknown as KafkaMessage;
      assert.throws(() => decoder.decode(message, 't', true), { code: 'DECODE_FAILED' });
      assert.throws(() => decoder.decode(message, 't'), { code: 'DECODE_FAILED' });
    }
  });

  it('refuses a position that is not a binlog position on both paths, with the same code', async () => {
    const decoder = decoderOf(types);
    const key = Buffer.from(encodeFramed(2, keyType, { id: 1n }));
    for (const source of [
      { ...SOURCE, pos: -5n, row: 0 },
      { ...SOURCE, pos: 4n, row: 0, epoch: -1 },
      { ...SOURCE, file: 'no-number', pos: 4n, row: 0 },
    ]) {
      const message = { key, value: Buffer.from(encodeFramed(1, valueType, { before: null, after: row(random(3), 1n), source, op: 'c', ts_ms: null })) } as unknown as KafkaMessage;
      await decoder.prepare([message]);
      assert.throws(() => decoder.decode(message, 't', true), { code: 'SOURCE_POSITION_INVALID' });
      assert.throws(() => decoder.decode(message, 't'), { code: 'SOURCE_POSITION_INVALID' });
    }
  });

  it('leaves GEOMETRY rows, integer-like column names and keyless rows to the decoding path', async () => {
    for (const columns of [
      [column('id', 'int', {}, false), column('g', 'point')],
      [column('id', 'int', {}, false), column('7', 'int')],
    ]) {
      const table = { ...TABLE, columns, fingerprint: schemaFingerprint(columns, ['id']) };
      assert.equal(envelopeRenderer(avroType(envelopeSchema('cdc', table) as never)), undefined, columns[1]!.name);
    }
    const decoder = decoderOf(types);
    const message = {
      key: null,
      value: Buffer.from(encodeFramed(1, valueType, { before: null, after: row(random(2), 3n), source: { ...SOURCE, pos: 4n, row: 0 }, op: 'c', ts_ms: null })),
    } as unknown as KafkaMessage;
    await decoder.prepare([message]);
    const change = decoder.decode(message, 't', true);
    assert.ok(change && !('document' in change) && change.after?.id === 3n);
  });
});
