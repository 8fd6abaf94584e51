import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { CdcError } from '../../src/core/errors.ts';

/** One row of a classifier's table: what the error is, the error, the code and retriability it must get. */
export type ClassifierRow = [name: string, error: unknown, code: string, retriable: boolean];

/** One test per row: `classify(error)` must give the row's code and retriability, and keep the error as its cause. */
export function classifies(table: ClassifierRow[], classify: (error: unknown) => CdcError): void {
  for (const [name, error, code, retriable] of table) {
    it(`${name} → ${code}${retriable ? ', retriable' : ''}`, () => {
      const cdc = classify(error);
      assert.equal(cdc.code, code);
      assert.equal(cdc.retriable, retriable);
      assert.equal(cdc.cause, error);
    });
  }
}
