import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Type } from 'avsc';
import { avroType } from '../../src/core/avro-types.ts';
import type { ChangeEvent } from '../../src/core/change-event.ts';
import { CdcError } from '../../src/core/errors.ts';
import { SourcePosition } from '../../src/core/position.ts';
import type { Registry } from '../../src/core/schema-registry.ts';
import { EventEncoder } from '../../src/source/event-encoder.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';

/**
 * A new table's key and value subjects are registered side by side (one wait for the registry,
 * not two in turn), and when both are refused the value's refusal is the one reported.
 */

const TABLE = deriveTableSchema(
  'shop',
  'orders',
  [
    { COLUMN_NAME: 'id', COLUMN_TYPE: 'bigint' },
    { COLUMN_NAME: 'note', COLUMN_TYPE: 'varchar(20)' },
  ],
  [],
  [0],
);
const EVENT: ChangeEvent = {
  op: 'c',
  schema: TABLE,
  before: null,
  after: { id: 1n, note: 'a' },
  position: new SourcePosition('binlog.000001', 4),
  gtid: undefined,
  tsMs: 0,
  snapshot: 'false',
  serverId: 1,
};
const SETTINGS = { prefix: 'cdc', converter: 'avro' as const, sourceId: 's', connector: 'mariadb' as const, compatibility: 'BACKWARD', version: '1', epoch: 0 };

/** A registry answering after a turn of the event loop, refusing the subjects in `refused`; it counts registrations under way. */
function standIn(refused: Set<string>): { registry: Registry; widest: () => number } {
  const types = new Map<number, Type>();
  let underWay = 0;
  let widest = 0;
  const registry = {
    register: async (subject: string, schema: Record<string, unknown>) => {
      underWay++;
      widest = Math.max(widest, underWay);
      await new Promise((resolve) => setTimeout(resolve, 5));
      underWay--;
      if (refused.has(subject)) throw new CdcError('SCHEMA_INCOMPATIBLE', `${subject} refused`);
      types.set(types.size + 1, avroType(schema as never));
      return types.size;
    },
    avroType: async (id: number) => types.get(id)!,
    latest: async () => undefined,
  } as unknown as Registry;
  return { registry, widest: () => widest };
}

describe('event encoder: registration of a new table', () => {
  it('registers the key and the value side by side', async () => {
    const { registry, widest } = standIn(new Set());
    await new EventEncoder(registry, SETTINGS).prepare(EVENT);
    assert.equal(widest(), 2);
  });

  it("reports the value's refusal when both are refused, and the key's when only it is", async () => {
    const both = standIn(new Set(['cdc.shop.orders-key', 'cdc.shop.orders-value']));
    await assert.rejects(new EventEncoder(both.registry, SETTINGS).prepare(EVENT), /subject cdc\.shop\.orders-value/);
    const keyOnly = standIn(new Set(['cdc.shop.orders-key']));
    await assert.rejects(new EventEncoder(keyOnly.registry, SETTINGS).prepare(EVENT), /subject cdc\.shop\.orders-key/);
  });
});
