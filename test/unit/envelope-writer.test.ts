import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Type } from 'avsc';
import { avroType } from '../../src/core/avro-types.ts';
import { encodeFramedWith } from '../../src/core/avro-wire.ts';
import type { ChangeEvent, Op, Row } from '../../src/core/change-event.ts';
import { SourcePosition } from '../../src/core/position.ts';
import type { Registry } from '../../src/core/schema-registry.ts';
import { envelopeSchema, flatValueSchema } from '../../src/source/avro-schema.ts';
import { envelopeWriter } from '../../src/source/envelope-writer.ts';
import { EventEncoder } from '../../src/source/event-encoder.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';
import { pick, seededRandom } from '../helpers/seeded-random.ts';

/**
 * The envelope written from the ChangeEvent (envelope-writer.ts) against avsc's encoding of the
 * envelope object built field by field: the same bytes for every kind of change, with and without
 * a GTID, transaction metadata, non-ASCII names and a column whose Avro name differs; and through
 * the encoder, a value the schema refuses still gets the error that names its field.
 */

const COLUMNS = [
  { COLUMN_NAME: 'id', COLUMN_TYPE: 'bigint' },
  { COLUMN_NAME: 'amount', COLUMN_TYPE: 'decimal(12,2)' },
  { COLUMN_NAME: 'note', COLUMN_TYPE: 'varchar(120)' },
  { COLUMN_NAME: 'at', COLUMN_TYPE: 'datetime(6)' },
  { COLUMN_NAME: 'col with space', COLUMN_TYPE: 'int' },
];
const TABLE = deriveTableSchema('shöp', 'items', COLUMNS, [], [0]);
const SETTINGS = { version: '1.2.3', connector: 'mariadb' as const, prefix: 'cdc', sourceId: 'sourçe-1', epoch: 3 };
const NOW = 1_700_000_123_456;

function row(next: () => number): Row {
  return {
    id: BigInt(Math.floor(next() * 1e12)),
    amount: `${Math.floor(next() * 1e6)}.${String(Math.floor(next() * 100)).padStart(2, '0')}`,
    note: pick(next, ['', 'plain', 'ünïcode', 'x'.repeat(70), null]),
    at: '2024-05-06T07:08:09.123456',
    'col with space': pick(next, [0, -5, 2 ** 31 - 1, null]),
  };
}

function events(count: number): ChangeEvent[] {
  const next = seededRandom(20261207);
  return Array.from({ length: count }, (_, i) => {
    const op = pick(next, ['c', 'u', 'd', 'r'] as Op[]);
    return {
      op,
      schema: TABLE,
      before: op === 'u' || op === 'd' ? row(next) : null,
      after: op === 'd' ? null : row(next),
      position: new SourcePosition(`mariadb-bin.${String(1 + (i % 3)).padStart(6, '0')}`, Math.floor(next() * 2 ** 40), i % 7, undefined, 0, 3),
      gtid: pick(next, [undefined, '0-1-42', '3E11FA47-71CA-11E1-9E33-C80AA9429562:23']),
      tsMs: 1_600_000_000_000 + i,
      snapshot: pick(next, ['true', 'last', 'incremental', 'false'] as const),
      serverId: 1 + (i % 5),
      ...(i % 4 === 0 ? { transaction: { id: `0-1-${i}`, totalOrder: i + 1, tableOrder: (i % 3) + 1 } } : {}),
    };
  });
}

/** The envelope object as the encoder's generic path builds it. */
function envelopeObject(event: ChangeEvent): Record<string, unknown> {
  const record = (image: Row | null) => image && Object.fromEntries(Object.entries(image).map(([name, value]) => [name.replace(/ /g, '_'), value]));
  return {
    before: record(event.before),
    after: record(event.after),
    source: {
      version: SETTINGS.version,
      connector: SETTINGS.connector,
      name: SETTINGS.prefix,
      source_id: SETTINGS.sourceId,
      ts_ms: event.tsMs,
      snapshot: event.snapshot,
      db: TABLE.database,
      table: TABLE.table,
      server_id: event.serverId,
      gtid: event.gtid ?? null,
      file: event.position.file,
      pos: event.position.pos,
      row: event.position.row,
      epoch: SETTINGS.epoch,
    },
    op: event.op,
    ts_ms: NOW,
    transaction: event.transaction ? { id: event.transaction.id, total_order: event.transaction.totalOrder, data_collection_order: event.transaction.tableOrder } : null,
  };
}

const renamed = (image: Row) => Object.fromEntries(Object.entries(image).map(([name, value]) => [name.replace(/ /g, '_'), value]));

describe('envelope writer', () => {
  const type = avroType(envelopeSchema('cdc', TABLE) as never);

  it("writes avsc's bytes of the envelope object, for every kind of change", (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const write = envelopeWriter(type, TABLE, SETTINGS, renamed)!;
    assert.ok(write);
    const all = events(500);
    // Larger than the encoder's slab: written again into a fresh one, the constant runs too.
    all[250] = { ...all[250]!, after: { ...row(seededRandom(7)), note: 'y'.repeat(300_000) } };
    for (const event of all) {
      const written = Buffer.from(encodeFramedWith(1, write, event).subarray(5));
      assert.deepEqual(written, type.toBuffer(envelopeObject(event)), `${event.op} at ${event.position.pos}`);
    }
  });

  it('leaves a type that is not the envelope to the generic path', () => {
    assert.equal(envelopeWriter(avroType(flatValueSchema('cdc', TABLE) as never), TABLE, SETTINGS, renamed), undefined);
  });

  it('through the encoder: the same record as the generic path, and a refused value names its field', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const types = new Map<number, Type>();
    const registry = {
      register: async (_subject: string, schema: Record<string, unknown>) => {
        types.set(types.size + 1, avroType(schema as never));
        return types.size;
      },
      avroType: async (id: number) => types.get(id)!,
    } as unknown as Registry;
    const encoder = new EventEncoder(registry, { ...SETTINGS, converter: 'avro', compatibility: 'BACKWARD' });
    const event = events(50).find((e) => e.op === 'u')!;
    const record = await encoder.encode(event);
    assert.deepEqual(Buffer.from(record.value!.subarray(5)), type.toBuffer(envelopeObject(event)));
    const bad = { ...event, after: { ...event.after!, 'col with space': 'not a number' } } as ChangeEvent;
    await assert.rejects(encoder.encode(bad), (error: { code?: string; message: string }) => error.code === 'INTERNAL' && /fields after\.col_with_space\b/.test(error.message));
  });
});
