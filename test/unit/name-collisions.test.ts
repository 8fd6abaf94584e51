import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schemaFingerprint, type TableSchema } from '../../src/core/change-event.ts';
import { CdcError } from '../../src/core/errors.ts';
import { TopicClaims, topicFor } from '../../src/core/topics.ts';
import { IndexNames } from '../../src/sink/index-naming.ts';

const schema = (database: string, table: string): TableSchema => {
  const columns = [{ name: 'id', kind: 'int32' as const, sqlType: 'int', optional: false }];
  return { database, table, columns, key: ['id'], fingerprint: schemaFingerprint(columns, ['id']) };
};

const collision = (code: string) => (error: unknown) => error instanceof CdcError && error.code === code;

describe('topic claims', () => {
  it('refuses two tables whose names differ only in characters a topic replaces, naming both', () => {
    const claims = new TopicClaims();
    claims.claim(topicFor('p', 'db', 'a_b'), 'p', 'db', 'a_b');
    claims.claim(topicFor('p', 'db', 'a_b'), 'p', 'db', 'a_b');
    assert.throws(
      () => claims.claim(topicFor('p', 'db', 'a$b'), 'p', 'db', 'a$b'),
      (error: CdcError) => error.code === 'NAME_COLLISION' && /db\.a_b and db\.a\$b/.test(error.message) && /route transform/.test(error.hint ?? ''),
    );
  });

  it("refuses topics Kafka treats as one ('.' and '_')", () => {
    const claims = new TopicClaims();
    claims.claim(topicFor('p', 'db_a', 'b'), 'p', 'db_a', 'b');
    assert.throws(() => claims.claim(topicFor('p', 'db', 'a_b'), 'p', 'db', 'a_b'), collision('NAME_COLLISION'));
  });

  it('lets tables share a topic they are routed to on purpose, and keeps Orders and orders apart', () => {
    const claims = new TopicClaims();
    claims.claim('p.all', 'p', 'db', 'one');
    claims.claim('p.all', 'p', 'db', 'two');
    claims.claim(topicFor('p', 'db', 'Orders'), 'p', 'db', 'Orders');
    claims.claim(topicFor('p', 'db', 'orders'), 'p', 'db', 'orders');
  });
});

describe('index names', () => {
  it('holds the second of two tables that lower-case to one index, and lets a template without {table} merge on purpose', () => {
    const names = new IndexNames();
    assert.equal(names.of(schema('db', 'Orders'), '{database}_{table}', 'p.db.Orders', 'p'), 'db_orders');
    assert.throws(
      () => names.of(schema('db', 'orders'), '{database}_{table}', 'p.db.orders', 'p'),
      (error: CdcError) => error.code === 'NAME_COLLISION' && error.retriable && /db\.Orders and db\.orders both map to the Elasticsearch index db_orders/.test(error.message),
    );
    assert.equal(names.of(schema('db', 'one'), 'all_{database}', 'p.db.one', 'p'), 'all_db');
    assert.equal(names.of(schema('db', 'two'), 'all_{database}', 'p.db.two', 'p'), 'all_db');
  });
});
