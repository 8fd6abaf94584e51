import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { avroType } from '../../src/core/avro-types.ts';
import { decodeFramed, encodeFramed, isFramed, schemaIdOf } from '../../src/core/avro-wire.ts';

describe('Confluent wire format', () => {
  const type = avroType({
    type: 'record',
    name: 'R',
    fields: [
      { name: 'id', type: 'long' },
      { name: 'text', type: 'string' },
    ],
  } as never);

  it('records encoded one after another stay intact, across slabs and with records larger than a slab', () => {
    const values = Array.from({ length: 20_000 }, (_, i) => ({ id: BigInt(i), text: i % 5000 === 7 ? 'x'.repeat(600_000 + i) : `row ${i}` }));
    const framed = values.map((value, i) => encodeFramed(i % 3, type, value));
    framed.forEach((buffer, i) => {
      assert.ok(isFramed(buffer));
      assert.equal(schemaIdOf(buffer), i % 3);
      assert.deepEqual({ ...(decodeFramed(type, buffer, 'value') as object) }, values[i]);
    });
  });

  it('a value the schema refuses throws and leaves the next record whole', () => {
    assert.throws(() => encodeFramed(1, type, { id: 'not a long', text: 1 }));
    assert.deepEqual({ ...(decodeFramed(type, encodeFramed(1, type, { id: 1n, text: 'a' }), 'value') as object) }, { id: 1n, text: 'a' });
  });
});
