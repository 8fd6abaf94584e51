import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { CdcError } from '../../src/core/errors.ts';
import { loadConfig } from '../../src/config/env.ts';
import { sourceSpec } from '../../src/config/source.ts';
import { envelopeSchema } from '../../src/source/avro-schema.ts';
import { columnMasking } from '../../src/transforms/masking.ts';
import { columnSelection, tableSelected } from '../../src/transforms/selection.ts';
import { customerEvent } from '../helpers/change-events.ts';

const base = { SOURCE_ID: 'orders', MYSQL_HOST: 'db', MYSQL_USER: 'cdc', KAFKA_BROKERS: 'k1:9092', SCHEMA_REGISTRY_URL: 'http://registry:8081' };
const config = (env: Record<string, string>) => loadConfig(sourceSpec, { ...base, ...env });

function transformError(fn: () => unknown): CdcError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof CdcError && error.code === 'TRANSFORM_FAILED', String(error));
    return error;
  }
  assert.fail('expected TRANSFORM_FAILED');
}

describe('table selection', () => {
  it('applies database and table include and exclude lists, full match', () => {
    const rules = config({ DATABASE_INCLUDE: 'shop.*', DATABASE_EXCLUDE: 'shop_archive', TABLE_EXCLUDE: 'shop\\.audit_.*', TABLE_INCLUDE: 'shop\\w*\\..*' });
    assert.equal(tableSelected(rules, 'shop', 'customers'), true);
    assert.equal(tableSelected(rules, 'shop_eu', 'customers'), true);
    assert.equal(tableSelected(rules, 'shop_archive', 'customers'), false, 'database excluded');
    assert.equal(tableSelected(rules, 'shop', 'audit_log'), false, 'table excluded');
    assert.equal(tableSelected(rules, 'billing', 'customers'), false, 'database not included');
    assert.equal(tableSelected(config({}), 'anything', 'at_all'), true, 'no lists: everything');
  });
});

describe('column selection', () => {
  it('removes excluded columns from the schema and both images, keeping one output schema per table', () => {
    const select = columnSelection(config({ COLUMN_EXCLUDE: 'shop\\.customers\\.(ssn|notes)' }))!;
    const a = select(customerEvent('u'))!;
    const b = select(customerEvent('c'))!;
    assert.deepEqual(
      a.schema.columns.map((c) => c.name),
      ['id', 'name', 'email', 'balance'],
    );
    assert.deepEqual(Object.keys(a.after!), ['id', 'name', 'email', 'balance']);
    assert.deepEqual(Object.keys(a.before!), ['id', 'name', 'email', 'balance']);
    assert.equal(a.schema, b.schema, 'the same output schema object for every event of the table');
    assert.notEqual(a.schema.fingerprint, customerEvent('c').schema.fingerprint);
    const avro = JSON.stringify(envelopeSchema('cdc', a.schema));
    assert.ok(!avro.includes('ssn') && !avro.includes('notes'), 'excluded columns are not in the Avro schema');
  });

  it('keeps only included columns, and the key without naming it', () => {
    const select = columnSelection(config({ COLUMN_INCLUDE: 'shop\\.customers\\.(email|name),other\\..*' }))!;
    assert.deepEqual(Object.keys(select(customerEvent('c'))!.after!), ['id', 'name', 'email']);
  });

  it('refuses to exclude a key column with a coded error', () => {
    const select = columnSelection(config({ COLUMN_EXCLUDE: '.*\\.id' }))!;
    assert.match(transformError(() => select(customerEvent('c'))).message, /key column id/);
  });
});

describe('column masking', () => {
  const salt = 'pepper-123';
  const mask = columnMasking(
    config({ COLUMN_HASH: 'shop\\.customers\\.email', COLUMN_HASH_SALT: salt, COLUMN_MASK: 'shop\\.customers\\.ssn', COLUMN_TRUNCATE: 'shop\\.customers\\.(notes|email)', COLUMN_TRUNCATE_CHARS: '3' }),
  )!;

  it('hashes with HMAC-SHA-256 keyed by the salt, masks with the fixed text, truncates by characters', () => {
    const event = mask(customerEvent('c'))!;
    assert.equal(event.after!.email, createHmac('sha256', salt).update('ada@example.com').digest('hex'), 'hash wins over truncate');
    assert.equal(event.after!.ssn, '****');
    assert.equal(event.after!.notes, 'a😀b', 'three code points, no split surrogate');
    assert.equal(event.after!.name, 'Ada');
    const kinds = Object.fromEntries(event.schema.columns.map((c) => [c.name, c.kind]));
    assert.deepEqual(kinds, { id: 'int32', name: 'string', email: 'string', ssn: 'string', balance: 'decimal', notes: 'string' });
  });

  it('changes the Avro type of masked columns and keeps nulls null', () => {
    const maskBalance = columnMasking(config({ COLUMN_MASK: '.*\\.balance' }))!;
    const event = maskBalance(customerEvent('c', { balance: null }))!;
    assert.equal(event.after!.balance, null);
    const value = (envelopeSchema('cdc', event.schema).fields as Array<{ name: string; type: unknown }>)[0]!.type as [string, { fields: Array<{ name: string; type: unknown }> }];
    assert.deepEqual(value[1].fields.find((f) => f.name === 'balance')!.type, ['null', 'string']);
    assert.equal(maskBalance(customerEvent('c'))!.after!.balance, '****');
  });

  it('hashes key columns (still distinct) but refuses to mask or truncate them', () => {
    const hashKey = columnMasking(config({ COLUMN_HASH: '.*\\.id', COLUMN_HASH_SALT: salt }))!;
    const a = hashKey(customerEvent('c', { id: 1 }))!;
    const b = hashKey(customerEvent('c', { id: 2 }))!;
    assert.notEqual(a.after!.id, b.after!.id);
    assert.deepEqual(a.schema.key, ['id']);
    const maskKey = columnMasking(config({ COLUMN_MASK: '.*\\.id' }))!;
    assert.match(transformError(() => maskKey(customerEvent('c'))).message, /key column/);
  });

  it('requires the salt with COLUMN_HASH and the length with COLUMN_TRUNCATE, and never shows the salt', () => {
    try {
      config({ COLUMN_HASH: '.*\\.email', COLUMN_TRUNCATE: '.*' });
      assert.fail('expected CONFIG_INVALID');
    } catch (error) {
      const problems = (error as CdcError).details!.problems as string[];
      assert.ok(
        problems.some((p) => p.startsWith('COLUMN_HASH_SALT: is required')),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) => p.startsWith('COLUMN_TRUNCATE_CHARS: is required')),
        problems.join('\n'),
      );
    }
    const loaded = loadConfig(sourceSpec, { ...base, COLUMN_HASH: '.*', COLUMN_HASH_SALT_FILE: '/run/secrets/salt' }, () => 'file-salt\n');
    assert.equal(loaded.COLUMN_HASH_SALT, 'file-salt');
  });
});
