import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseMicros } from '../../src/core/avro-types.ts';
import { seededRandom as random } from '../helpers/seeded-random.ts';

/**
 * parseMicros reads the usual `YYYY-MM-DD[T ]HH:MM:SS.ffffff` from character codes, and any other
 * shape through its regex: both must give what the specification's arithmetic gives (a Date in
 * proleptic Gregorian days, as the source always counted them), to the microsecond.
 */
function reference(value: string): bigint {
  const match = /^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?Z?$/.exec(value);
  if (!match) throw new Error(`not a datetime: ${value}`);
  const [, y, mo, d, h, mi, s, frac = ''] = match;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  const days = BigInt(Math.round(date.getTime() / 86_400_000));
  return days * 86_400_000_000n + BigInt(((Number(h) * 60 + Number(mi)) * 60 + Number(s)) * 1_000_000 + Number(frac.padEnd(6, '0')));
}

describe('datetime parsing', () => {
  it('gives the reference microseconds for every shape, year, month, day and time', () => {
    const next = random(20261206);
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    const int = (below: number) => Math.floor(next() * below);
    for (let i = 0; i < 20_000; i++) {
      const year = [0, 1, 99, 100, 400, 1582, 1685, 1969, 1970, 2000, 2024, 2254, 2255, 9999][i % 14]! + (i % 3 === 0 ? int(30) : 0);
      const date = `${pad(Math.min(year, 9999), 4)}-${pad(1 + int(12), 2)}-${pad(1 + int(31), 2)}`;
      const time = `${pad(int(24), 2)}:${pad(int(60), 2)}:${pad(int(60), 2)}`;
      const fraction = ['', `.${pad(int(1_000_000), 6)}`, `.${pad(int(1000), 3)}`][i % 3];
      const text = `${date}${i % 2 ? 'T' : ' '}${time}${fraction}`;
      assert.equal(BigInt(parseMicros(text)), reference(text), text);
      assert.equal(BigInt(parseMicros(`${text}Z`, true)), reference(text), `${text}Z`);
    }
  });

  it('gives a Number exactly where one can hold the microseconds, a BigInt beyond', () => {
    assert.equal(parseMicros('1970-01-01T00:00:00.000000'), 0);
    assert.equal(parseMicros('1969-12-31T23:59:59.999999'), -1);
    assert.equal(typeof parseMicros('2024-05-06T07:08:09.123456'), 'number');
    assert.equal(typeof parseMicros('9999-12-31T23:59:59.999999'), 'bigint');
    assert.equal(parseMicros('0001-01-01T00:00:00.000000'), -62_135_596_800_000_000n);
  });

  it('refuses other shapes, and a zone where none is allowed', () => {
    for (const text of ['2024-1-02T03:04:05.000000', '2024-01-02T03:04:05.1234567', '2024-01-02X03:04:05.000000', '2024-01-02T03:04:0a.000000', '2024-01-02T03:04:05.000000Z', '']) {
      assert.throws(() => parseMicros(text), /invalid datetime/, text);
    }
  });
});
