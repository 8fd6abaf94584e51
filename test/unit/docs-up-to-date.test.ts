import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('generated references', () => {
  for (const [command, file] of [
    ['config-reference', 'docs/configuration.md'],
    ['error-codes', 'docs/errors.md'],
  ] as const) {
    it(`${file} is what \`cdc ${command}\` prints (run make config-reference)`, () => {
      const generated = spawnSync(process.execPath, [`${root}src/cli.ts`, command], { encoding: 'utf8' });
      assert.equal(generated.status, 0, generated.stderr);
      assert.equal(readFileSync(`${root}${file}`, 'utf8'), generated.stdout);
    });
  }
});
