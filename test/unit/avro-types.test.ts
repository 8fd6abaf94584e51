import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { avroType, bigIntToBytes, formatMicros, formatUnscaled, JsonText, parseUnscaled, smallUnscaled } from '../../src/core/avro-types.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

const roundTrip = (schema: object | string, value: unknown) => {
  const type = avroType(schema as never);
  return type.fromBuffer(type.toBuffer(value));
};

describe('Avro types are exact', () => {
  it('longs are 64-bit BigInts', () => {
    for (const v of [2n ** 63n - 1n, -(2n ** 63n), 0n, 2n ** 53n + 1n]) assert.equal(roundTrip('long', v), v);
    assert.equal(roundTrip({ type: 'record', name: 'R', fields: [{ name: 'n', type: 'long' }] }, { n: 5 }).n, 5n);
  });

  it('longs on both sides of the short varint paths (±2^48 read, ±2^52 written) round-trip exactly, as BigInt or Number, in standard varints', () => {
    // The zigzag varint of the Avro specification, in BigInt arithmetic.
    const varint = (v: bigint): Buffer => {
      let zigzag = v >= 0n ? v << 1n : (-v << 1n) - 1n;
      const bytes: number[] = [];
      for (; zigzag >= 0x80n; zigzag >>= 7n) bytes.push(Number(zigzag & 0x7fn) | 0x80);
      bytes.push(Number(zigzag));
      return Buffer.from(bytes);
    };
    const edges = [48, 49, 50, 51, 52, 53, 56, 62].flatMap((bits) => [2n ** BigInt(bits), 2n ** BigInt(bits) - 1n, 2n ** BigInt(bits) + 1n]);
    for (const v of [...edges, ...edges.map((e) => -e), 63n, 64n, -64n, -65n]) {
      assert.equal(roundTrip('long', v), v);
      assert.deepEqual(avroType('long').toBuffer(v), varint(v), String(v));
      if (Number.isSafeInteger(Number(v)) && BigInt(Number(v)) === v) {
        assert.equal(roundTrip(['null', 'long'], Number(v)), v);
        assert.deepEqual(avroType('long').toBuffer(Number(v)), varint(v), String(v));
      }
    }
    assert.throws(() => avroType('long').toBuffer(1.5), /invalid "long"/);
    // A null, a string or a boolean compares with a BigInt as a number would, but is no long.
    for (const v of [null, undefined, '12', true]) assert.throws(() => avroType('long').toBuffer(v), /invalid "long"/, String(v));
  });

  it('decimals of up to 14 digits take the Number path to the same value and bytes, and only those', () => {
    const edges = [0, 1, 7, 8, 15, 16, 23, 24, 31, 32, 39, 40, 46, 47].flatMap((bits) => [2 ** bits, 2 ** bits - 1, 2 ** bits + 1]);
    const texts = [
      '0',
      '-0',
      '+5',
      '.5',
      '5.',
      '-.25',
      '0.00',
      '00012.5',
      '99999999999999',
      '-99999999999999',
      '100000000000000',
      '1.2300',
      '1.2301',
      '',
      '.',
      '-',
      '+',
      ' 1',
      '1e3',
      '1.2.3',
      '--1',
      '12a',
    ];
    const next = seededRandom(29);
    for (const n of edges) for (const sign of ['', '-']) texts.push(`${sign}${n}`, `${sign}${String(n).slice(0, -2) || '0'}.${String(n).slice(-2)}`);
    for (let i = 0; i < 2_000; i++) texts.push(`${next() < 0.5 ? '-' : ''}${Math.floor(next() * 10 ** Math.floor(next() * 16))}.${String(Math.floor(next() * 10_000)).padStart(4, '0')}`);
    for (const scale of [0, 2, 4, 6]) {
      const type = avroType({ type: 'bytes', logicalType: 'decimal', precision: 65, scale });
      for (const text of texts) {
        let exact: bigint | undefined;
        try {
          exact = parseUnscaled(text, scale);
        } catch {}
        const fast = smallUnscaled(text, scale);
        if (fast !== undefined) assert.equal(BigInt(fast), exact, `${text} at scale ${scale}`);
        // Every text of up to 14 digits the slow path accepts takes the fast one (spaces aside).
        if (exact !== undefined && !/\s/.test(text) && (exact < 0n ? -exact : exact) < 10n ** 14n) assert.notEqual(fast, undefined, `${text} at scale ${scale}`);
        if (exact === undefined) assert.throws(() => type.toBuffer(text), text);
        else assert.deepEqual(type.toBuffer(text), avroType('bytes').toBuffer(bigIntToBytes(exact)), `${text} at scale ${scale}`);
      }
    }
  });

  it('decimals round-trip as exact strings, including 2^64-1 and precision 65', () => {
    const cases: Array<[number, number, string]> = [
      [20, 0, '18446744073709551615'],
      [65, 30, '-12345678901234567890123456789012345.123456789012345678901234567890'],
      [10, 4, '12.3400'],
      [10, 1, '-0.5'],
      [10, 2, '0.00'],
      [10, 2, '-128.00'],
      [10, 0, '-32768'],
    ];
    for (const [precision, scale, text] of cases) assert.equal(roundTrip({ type: 'bytes', logicalType: 'decimal', precision, scale }, text), text);
    assert.equal(formatUnscaled(parseUnscaled('7', 3), 3), '7.000');
    assert.throws(() => parseUnscaled('1.234', 2), /more than 2 fraction digits/);
    assert.equal(parseUnscaled('1.2300', 2), 123n);
  });

  it('dates, times and timestamps keep their canonical text', () => {
    for (const d of ['0001-01-01', '1969-12-31', '1970-01-01', '2024-02-29', '9999-12-31']) assert.equal(roundTrip({ type: 'int', logicalType: 'date' }, d), d);
    for (const t of ['-838:59:59.000000', '838:59:59.000000', '00:00:00.000001', '-00:00:01.500000']) assert.equal(roundTrip({ type: 'long', logicalType: 'time-micros' }, t), t);
    for (const t of ['1000-01-01T00:00:00.000000', '9999-12-31T23:59:59.999999', '1969-12-31T23:59:59.999999']) {
      assert.equal(roundTrip({ type: 'long', logicalType: 'local-timestamp-micros' }, t), t);
    }
    assert.equal(roundTrip({ type: 'long', logicalType: 'timestamp-micros' }, '1970-01-01T00:00:00.000000Z'), '1970-01-01T00:00:00.000000Z');
    assert.equal(roundTrip(['null', { type: 'long', logicalType: 'timestamp-micros' }], '1901-12-13T20:45:52.000001Z'), '1901-12-13T20:45:52.000001Z');
  });

  it('datetimes and decimals read as a Number have the text of the same BigInt, across day boundaries', () => {
    const day = 86_400_000_000;
    const max = Math.floor(Number.MAX_SAFE_INTEGER / day) - 1;
    // Every day of the safe range at its edges: where the Number division may round into the next day.
    for (let days = -max; days <= max; days++) {
      for (const micros of [days * day - 1, days * day, days * day + 1]) assert.equal(formatMicros(micros), formatMicros(BigInt(micros)), String(micros));
    }
    for (const unscaled of [0, 1, -1, 12345, -99999, 2 ** 47 - 1, -(2 ** 47)]) {
      for (const scale of [0, 2, 4, 30]) assert.equal(formatUnscaled(unscaled, scale), formatUnscaled(BigInt(unscaled), scale));
    }
  });

  it('JSON text is kept verbatim, big integers included', () => {
    const decoded = roundTrip({ type: 'string', logicalType: 'json' }, '{"a": 12345678901234567890, "b": [1, {"c": null}]}');
    assert.ok(decoded instanceof JsonText);
    assert.equal(decoded.text, '{"a": 12345678901234567890, "b": [1, {"c": null}]}');
  });
});
