import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JsonText } from '../../src/core/avro-types.ts';
import { exactJson } from '../../src/core/exact-json.ts';
import { classifyItem } from '../../src/sink/elasticsearch-errors.ts';
import { collapseById } from '../../src/sink/bulk-writer.ts';
import { documentId, documentJson } from '../../src/sink/document.ts';
import { indexName } from '../../src/sink/index-naming.ts';

describe('documents', () => {
  it('serialise longs beyond 2^53, JSON text and bytes exactly', () => {
    const json = documentJson({ id: 2n ** 63n - 1n, j: new JsonText('{"n":12345678901234567890}'), b: Buffer.from([0, 255]), s: 'ü"', n: null, f: 1.5 });
    assert.equal(json, '{"id":9223372036854775807,"j":{"n":12345678901234567890},"b":"AP8=","s":"ü\\"","n":null,"f":1.5}');
  });

  it('serialise like exactJson, the empty row and names that need escaping included', () => {
    for (const row of [{}, { 'a"b': 1, 'ü\n': 'x', nested: { k: [1n, 'v'] } }, { id: 1n }]) assert.equal(documentJson(row), exactJson(row));
  });

  it('ids: one column as text, composite keys as a JSON array, long ones hashed', () => {
    assert.equal(documentId({ id: 42n }), '42');
    assert.equal(documentId({ a: 1, b: 'x' }), '["1","x"]');
    assert.notEqual(documentId({ a: '1', b: '2,3' }), documentId({ a: '1,2', b: '3' }));
    const long = documentId({ s: 'é'.repeat(400) });
    assert.match(long, /^sha256:[0-9a-f]{64}$/);
  });
});

describe('bulk item outcomes', () => {
  it('classifies every status as the sink must treat it', () => {
    const table: Array<[number, boolean, string]> = [
      [200, false, 'ok'],
      [201, false, 'ok'],
      [404, true, 'ok'],
      [404, false, 'reject'],
      [409, false, 'stale'],
      [409, true, 'stale'],
      [429, false, 'retry'],
      [500, false, 'retry'],
      [502, false, 'retry'],
      [503, true, 'retry'],
      [504, false, 'retry'],
      [400, false, 'reject'],
    ];
    for (const [status, isDelete, outcome] of table) assert.equal(classifyItem(status, isDelete), outcome, `${status} delete=${isDelete}`);
  });
});

describe('index names', () => {
  it('fill the template and are Elasticsearch-safe', () => {
    assert.equal(indexName('{database}_{table}', { topic: 't', prefix: 'p', database: 'Shop', table: 'Order Lines' }), 'shop_order_lines');
    assert.equal(indexName('{prefix}-{table}', { topic: 't', prefix: '_x', database: 'd', table: 'a:b' }), 'x-a_b');
  });
});

describe('collapsing a batch', () => {
  it('keeps only the newest change per document, in order', () => {
    const a = (index: string, id: string, version: bigint) => ({ index, id, version, document: null, origin: `${index}/${id}@${version}` });
    const kept = collapseById([a('i', '1', 5n), a('i', '2', 6n), a('j', '1', 7n), a('i', '1', 9n), a('i', '2', 3n)]);
    assert.deepEqual(
      kept.map((k) => k.origin),
      ['i/2@6', 'j/1@7', 'i/1@9'],
    );
  });
});
