import type { ChangeEvent, ColumnDef, Op, Row } from '../../src/core/change-event.ts';
import { SourcePosition } from '../../src/core/position.ts';
import { IndexNames } from '../../src/sink/index-naming.ts';
import type { RecordSettings } from '../../src/sink/record-actions.ts';
import { columnDef } from '../../src/source/column-types.ts';
import { deriveTableSchema } from '../../src/source/table-schema.ts';

/** shop.customers as the binlog describes it; one schema object, as the reader's cache shares it. */
export const CUSTOMERS = deriveTableSchema(
  'shop',
  'customers',
  [
    { COLUMN_NAME: 'id', COLUMN_TYPE: 'int' },
    { COLUMN_NAME: 'name', COLUMN_TYPE: 'varchar(40)' },
    { COLUMN_NAME: 'email', COLUMN_TYPE: 'varchar(80)' },
    { COLUMN_NAME: 'ssn', COLUMN_TYPE: 'char(11)' },
    { COLUMN_NAME: 'balance', COLUMN_TYPE: 'decimal(10,2)' },
    { COLUMN_NAME: 'notes', COLUMN_TYPE: 'text' },
  ],
  [],
  [0],
);

/** A change of one customer in canonical values; `row` overrides columns of the after image. */
export function customerEvent(op: Op, row: Partial<Row> = {}): ChangeEvent {
  const image: Row = { id: 7, name: 'Ada', email: 'ada@example.com', ssn: '123-45-6789', balance: '10.50', notes: 'a😀bcdef', ...row } as Row;
  return {
    op,
    schema: CUSTOMERS,
    before: op === 'c' || op === 'r' ? null : { ...image, balance: '9.00' },
    after: op === 'd' ? null : image,
    position: new SourcePosition('mariadb-bin.000003', 1200, 2),
    gtid: '0-1-42',
    tsMs: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
    snapshot: 'false',
    serverId: 1,
  };
}

/** The sink's record settings with the defaults' choices (no transforms, hard deletes, no metadata), as the decoding path. */
export function sinkRecordSettings(overrides: Partial<RecordSettings> = {}): RecordSettings {
  return {
    indexTemplate: '{database}_{table}',
    topicPrefix: 'cdc',
    deleteMode: 'hard',
    keyless: 'row_hash',
    metadata: [],
    metadataPrefix: '__cdc_',
    transform: (event) => event,
    indexNames: new IndexNames(),
    renderDocuments: false,
    ...overrides,
  };
}

/** A column as the source derives it from information_schema (`extra`: ENUM_VALUES and the like); optional unless said. */
export function column(name: string, type: string, extra: object = {}, optional = true): ColumnDef {
  return columnDef('db.t', { COLUMN_NAME: name, COLUMN_TYPE: type, ...extra }, undefined, optional);
}
