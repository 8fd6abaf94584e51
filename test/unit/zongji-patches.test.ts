import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { seededRandom as randomFrom } from '../helpers/seeded-random.ts';

const require = createRequire(import.meta.url);
const COMMON = join(dirname(require.resolve('@vlasky/zongji')), 'lib', 'common.js');

interface Helpers {
  zeroPad(num: unknown, size: number): string;
  parseIEEE754Float(high: number, low?: number): number;
}

describe('zongji patches', async () => {
  // zongji's own module first (no hook yet), then a second instance of it loaded through the hook.
  const own = (await import(pathToFileURL(COMMON).href)) as Helpers;
  const { zongjiPatchOf, patchZongjiCommon, patchZongjiRowsEvent } = await import('../../src/source/zongji-patches.ts');
  const patched = (await import(`${pathToFileURL(COMMON).href}?patched`)) as Helpers;

  it('replace both helpers in the installed zongji, and only in its common.js', () => {
    const text = readFileSync(COMMON, 'utf8');
    const result = patchZongjiCommon(text);
    assert.equal(result.match(/patched by cdc/g)?.length, 2, 'a helper was not found: zongji changed, review src/source/zongji-patches.ts');
    assert.equal(zongjiPatchOf(`${pathToFileURL(COMMON).href}?x`), patchZongjiCommon);
    assert.equal(zongjiPatchOf(pathToFileURL(join(dirname(COMMON), 'rows_event.js')).href), patchZongjiRowsEvent);
    assert.equal(zongjiPatchOf(pathToFileURL(join(dirname(COMMON), 'binlog_event.js')).href), undefined);
    assert.notEqual(patched.zeroPad, own.zeroPad);
    assert.match(String(patched.parseIEEE754Float), /patched by cdc/);
  });

  it("hook the installed zongji's rows events, so that a table map's row reader reads their rows", () => {
    const result = patchZongjiRowsEvent(readFileSync(join(dirname(COMMON), 'rows_event.js'), 'utf8'));
    assert.equal(result.match(/tablemap\.cdcReadRow\(/g)?.length, 1, 'readRow was not found: zongji changed, review src/source/zongji-patches.ts');
  });

  it('pad as zongji does: digit strings and numbers of every length against every size', () => {
    for (let digits = 0; digits <= 40; digits++) {
      const text = '123456789'.repeat(5).slice(0, digits);
      for (const size of [-1, 0, 1, 2, 3, 8, 9, 10, 31, 32, 33, 40]) {
        assert.equal(patched.zeroPad(text, size), own.zeroPad(text, size), `${text} / ${size}`);
        if (digits > 0 && digits < 16) assert.equal(patched.zeroPad(Number(text), size), own.zeroPad(Number(text), size));
      }
    }
  });

  it('read FLOAT and DOUBLE bits as zongji does, NaN, infinities and subnormals included', () => {
    const random = randomFrom(5);
    const words = [0, 1, 0x7f800000, 0xff800000, 0x7fc00000, 0x80000000, 0x00000001, 0x7fefffff, 0xffffffff];
    for (let i = 0; i < 20_000; i++) words.push(Math.floor(random() * 2 ** 32));
    for (let i = 0; i < words.length; i++) {
      const high = words[i]!;
      const low = words[(i * 7 + 3) % words.length]!;
      assert.ok(Object.is(patched.parseIEEE754Float(high), own.parseIEEE754Float(high)), `float ${high}`);
      assert.ok(Object.is(patched.parseIEEE754Float(high, low), own.parseIEEE754Float(high, low)), `double ${high} ${low}`);
    }
  });
});
