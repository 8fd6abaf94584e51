import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schemaFingerprint, type ChangeEvent, type ColumnDef, type Op, type Row, type TableSchema } from '../../src/core/change-event.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { versionOf } from '../../src/core/version.ts';
import { actionsOf, type RecordSettings } from '../../src/sink/record-actions.ts';
import { rowDocumentId } from '../../src/sink/document.ts';
import { sinkRecordSettings } from '../helpers/change-events.ts';

const columns: ColumnDef[] = [
  { name: 'id', kind: 'int64', sqlType: 'bigint', optional: false },
  { name: 'name', kind: 'string', sqlType: 'varchar(20)', optional: true },
];
const schema: TableSchema = { database: 'Shop', table: 'Items', columns, key: [], fingerprint: schemaFingerprint(columns, []) };
const position = new SourcePosition('mysql-bin.000003', 1200, 2);
const version = versionOf(position);

function change(op: Op, before: Row | null, after: Row | null, key: Row | null = { id: 7n }): ChangeEvent {
  return { op, schema, before, after, position, gtid: undefined, tsMs: 1_700_000_000_000, snapshot: 'false', serverId: 1, topic: 'cdc.Shop.Items', key };
}

const base = sinkRecordSettings();
const old = { id: 7n, name: 'a' };
const now = { id: 7n, name: 'b' };

describe('record → bulk actions', () => {
  const table: Array<{ name: string; change: ChangeEvent | null; settings?: Partial<RecordSettings>; expect: string | Array<{ id: string; document: string | null; index?: string }> }> = [
    { name: 'a tombstone is skipped', change: null, expect: 'tombstone' },
    { name: 'an insert indexes the after image under the key', change: change('c', null, now), expect: [{ id: '7', document: '{"id":7,"name":"b"}' }] },
    { name: 'a snapshot read indexes like an insert', change: change('r', null, now), expect: [{ id: '7', document: '{"id":7,"name":"b"}' }] },
    { name: 'an update indexes the after image', change: change('u', old, now), expect: [{ id: '7', document: '{"id":7,"name":"b"}' }] },
    { name: 'a hard delete deletes the document', change: change('d', old, null), expect: [{ id: '7', document: null }] },
    {
      name: 'a soft delete indexes the before image flagged deleted',
      change: change('d', old, null),
      settings: { deleteMode: 'soft' },
      expect: [{ id: '7', document: '{"id":7,"name":"a","__deleted":true}' }],
    },
    { name: 'soft mode flags live rows too', change: change('c', null, now), settings: { deleteMode: 'soft' }, expect: [{ id: '7', document: '{"id":7,"name":"b","__deleted":false}' }] },
    {
      name: 'metadata fields follow the row, prefixed',
      change: change('u', old, now),
      settings: { metadata: ['op', 'ts_ms', 'position', 'gtid', 'version', 'key'], metadataPrefix: 'm_' },
      expect: [{ id: '7', document: `{"id":7,"name":"b","m_op":"u","m_ts_ms":1700000000000,"m_position":"${position.toString()}","m_gtid":null,"m_version":${version},"m_key":{"id":7}}` }],
    },
    { name: 'a keyless insert is indexed under its row hash', change: change('c', null, now, null), expect: [{ id: rowDocumentId(now), document: '{"id":7,"name":"b"}' }] },
    {
      name: "a keyless update deletes the old row's document and indexes the new one",
      change: change('u', old, now, null),
      expect: [
        { id: rowDocumentId(old), document: null },
        { id: rowDocumentId(now), document: '{"id":7,"name":"b"}' },
      ],
    },
    { name: 'a keyless update that changes nothing indexes once', change: change('u', now, now, null), expect: [{ id: rowDocumentId(now), document: '{"id":7,"name":"b"}' }] },
    {
      name: "a soft keyless update marks the old row's document deleted",
      change: change('u', old, now, null),
      settings: { deleteMode: 'soft', metadata: ['op'] },
      expect: [
        { id: rowDocumentId(old), document: '{"id":7,"name":"a","__deleted":true,"__cdc_op":"d"}' },
        { id: rowDocumentId(now), document: '{"id":7,"name":"b","__deleted":false,"__cdc_op":"u"}' },
      ],
    },
    { name: 'a keyless delete deletes its row hash', change: change('d', old, null, null), expect: [{ id: rowDocumentId(old), document: null }] },
    { name: 'KEYLESS_TABLES=skip skips keyless changes', change: change('c', null, now, null), settings: { keyless: 'skip' }, expect: 'keyless' },
    { name: 'a transform that drops the change skips it', change: change('c', null, now), settings: { transform: () => null }, expect: 'filtered' },
    {
      name: 'the index comes from the template',
      change: change('c', null, now),
      settings: { indexTemplate: '{prefix}-{topic}' },
      expect: [{ id: '7', document: '{"id":7,"name":"b"}', index: 'cdc-cdc.shop.items' }],
    },
    {
      name: 'an index_router transform overrides the template',
      change: change('c', null, now),
      settings: { transform: (event) => ({ ...event, index: 'routed_{table}' }) },
      expect: [{ id: '7', document: '{"id":7,"name":"b"}', index: 'routed_items' }],
    },
  ];
  for (const row of table) {
    it(row.name, () => {
      const planned = actionsOf(row.change, { ...base, ...row.settings }, 'origin');
      if (typeof row.expect === 'string') return assert.equal(planned, row.expect);
      assert.notEqual(typeof planned, 'string');
      if (typeof planned === 'string') return;
      assert.deepEqual(
        planned.actions.map((a) => ({ index: a.index, id: a.id, version: a.version, document: a.document, origin: a.origin })),
        row.expect.map((e) => ({ index: e.index ?? 'shop_items', id: e.id, version, document: e.document, origin: 'origin' })),
      );
    });
  }
});
