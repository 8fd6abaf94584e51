/** The bench table (`events`, 8 columns, keyed by id) as the binlog describes it, and change events of it. */
import type { ChangeEvent } from '../src/core/change-event.ts';
import { SourcePosition } from '../src/core/position.ts';
import { deriveTableSchema } from '../src/source/table-schema.ts';

/** `count` inserts of the bench table's rows, as the binlog reader hands them on. */
export function benchEvents(count: number): ChangeEvent[] {
  const schema = deriveTableSchema(
    'bench',
    'events',
    [
      { COLUMN_NAME: 'id', COLUMN_TYPE: 'bigint' },
      { COLUMN_NAME: 'account', COLUMN_TYPE: 'varchar(40)' },
      { COLUMN_NAME: 'amount', COLUMN_TYPE: 'decimal(12,2)' },
      { COLUMN_NAME: 'kind', COLUMN_TYPE: "enum('debit','credit')", ENUM_VALUES: ['debit', 'credit'] },
      { COLUMN_NAME: 'note', COLUMN_TYPE: 'varchar(120)' },
      { COLUMN_NAME: 'created_at', COLUMN_TYPE: 'datetime(6)' },
      { COLUMN_NAME: 'score', COLUMN_TYPE: 'double' },
      { COLUMN_NAME: 'flags', COLUMN_TYPE: 'int' },
    ],
    [],
    [0],
  );
  return Array.from({ length: count }, (_, i) => ({
    op: 'c',
    schema,
    before: null,
    after: {
      id: BigInt(i),
      account: `acct-${i % 977}`,
      amount: `${i % 100000}.${String(i % 100).padStart(2, '0')}`,
      kind: i % 2 ? 'debit' : 'credit',
      note: `note ${i}`,
      created_at: '2024-05-06T07:08:09.123456',
      score: i / 7,
      flags: i % 13,
    },
    position: new SourcePosition('binlog.000001', 4 + i * 100, 0),
    gtid: '0-1-1',
    tsMs: 1_700_000_000_000 + i,
    snapshot: 'false',
    serverId: 1,
  }));
}
