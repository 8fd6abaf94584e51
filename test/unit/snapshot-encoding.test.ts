import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChangeEvent, TableSchema } from '../../src/core/change-event.ts';
import type { EncodedRecord } from '../../src/source/encoded-record.ts';
import type { EventEncoder } from '../../src/source/event-encoder.ts';
import { EncodedChunk, encodeBatch } from '../../src/source/snapshot-encoding.ts';

/**
 * A stand-in encoder: a record's value is its row id, its topic the table's name; a table is
 * prepared once prepareAll() saw it (or prepared() says so).
 */
function standInEncoder() {
  const prepared = new Set<string>();
  const encode = (event: ChangeEvent, out: (record: EncodedRecord) => void) => out({ topic: event.schema.table, key: null, value: Buffer.from(String(event.after!.id)), bytes: 1 });
  const encoder = {
    prepared,
    topicOfEvent: (event: ChangeEvent) => event.schema.table,
    encodeIfPrepared(event: ChangeEvent, _tombstones: boolean, out: (record: EncodedRecord) => void) {
      if (!prepared.has(event.schema.table)) return false;
      encode(event, out);
      return true;
    },
    encodeChange(event: ChangeEvent, _tombstones: boolean, out: (record: EncodedRecord) => void) {
      assert.ok(prepared.has(event.schema.table), `encodeChange before prepare for ${event.schema.table}`);
      encode(event, out);
    },
    async prepareAll(events: Iterable<ChangeEvent>) {
      for (const event of events) prepared.add(event.schema.table);
    },
  };
  return encoder;
}

const schemaOf = (table: string) => ({ database: 'db', table }) as TableSchema;
const row = (table: string, id: number) => ({ op: 'r', schema: schemaOf(table), before: null, after: { id }, snapshot: 'true' }) as unknown as ChangeEvent;
const values = (records: EncodedRecord[]) => records.map((r) => `${r.topic}:${r.value}`);

describe('snapshot chunks encoded as they are read', () => {
  it('encodes a prepared table at once and keeps read order once a row has to wait', async () => {
    const encoder = standInEncoder();
    encoder.prepared.add('a');
    const ensured: string[][] = [];
    const chunk = new EncodedChunk((event) => (event.after!.id === 3 ? null : event), encoder as unknown as EventEncoder);
    for (const id of [1, 2, 3]) chunk.add(row('a', id));
    assert.deepEqual(values(chunk.records), ['a:1', 'a:2'], 'prepared rows are encoded as they arrive; a filtered one is dropped');
    chunk.add(row('b', 4));
    // 'b' is prepared now, yet its next row and a row of 'a' wait behind the first waiting row.
    encoder.prepared.add('b');
    chunk.add(row('b', 5));
    chunk.add(row('a', 6));
    assert.deepEqual(values(chunk.records), ['a:1', 'a:2']);
    assert.equal(chunk.waiting.length, 3);
    const records = await encodeBatch([chunk], encoder as unknown as EventEncoder, { ensureTopics: async (topics) => void ensured.push([...topics].sort()) }, 4);
    assert.deepEqual(values(records), ['a:1', 'a:2', 'b:4', 'b:5', 'a:6']);
    assert.deepEqual(ensured, [['a', 'b']], "every topic is ensured: the encoded records' and the waiting changes'");
    assert.equal(chunk.waiting.length, 0);
  });

  it("joins a batch's chunks in order, preparing every waiting table in one go", async () => {
    const encoder = standInEncoder();
    const prepareCalls: string[][] = [];
    const prepareAll = encoder.prepareAll;
    encoder.prepareAll = async (events: Iterable<ChangeEvent>) => {
      const tables = [...events].map((e) => e.schema.table);
      prepareCalls.push([...new Set(tables)]);
      await prepareAll(tables.map((t) => row(t, 0)));
    };
    const chunks = ['x', 'y', 'z'].map((table, i) => {
      const chunk = new EncodedChunk((event) => event, encoder as unknown as EventEncoder);
      chunk.add(row(table, 10 * i + 1));
      chunk.add(row(table, 10 * i + 2));
      return chunk;
    });
    const records = await encodeBatch(chunks, encoder as unknown as EventEncoder, { ensureTopics: async () => undefined }, 4);
    assert.deepEqual(values(records), ['x:1', 'x:2', 'y:11', 'y:12', 'z:21', 'z:22']);
    assert.deepEqual(prepareCalls, [['x', 'y', 'z']]);
  });
});
