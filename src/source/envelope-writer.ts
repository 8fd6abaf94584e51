import avro from 'avsc';
import type { Tap } from 'avsc/lib/utils.js';
import { writerOf } from '../core/avro-writer.ts';
import type { ChangeEvent, Row, TableSchema } from '../core/change-event.ts';

/**
 * Writes a change's Debezium envelope into Avro straight from its ChangeEvent. The envelope was an
 * object built per record (with its source block, fourteen fields, of which six are the same for
 * every record of a table) and then walked by the envelope's generic record writer: in the
 * source's profiles encoding was its largest stage, and the envelope around the row half of it.
 * Here the six constant fields are written as bytes encoded once per table, and every other field
 * by the writer the generic path would use for it (core/avro-writer.ts), so the bytes and the
 * errors are the same (test/unit/envelope-writer.test.ts).
 */
export type EnvelopeWrite = (tap: Tap, event: ChangeEvent) => void;

/** What the source block says of every change of one source: EncoderSettings' part. */
export interface SourceBlockSettings {
  version: string;
  connector: string;
  prefix: string;
  sourceId: string;
  epoch: number;
}

/** The envelope's fields and its source block's, in order (schemas/envelope.template.avsc, schemas/source.avsc). */
const ENVELOPE_FIELDS = ['before', 'after', 'source', 'op', 'ts_ms', 'transaction'];
const SOURCE_FIELDS = ['version', 'connector', 'name', 'source_id', 'ts_ms', 'snapshot', 'db', 'table', 'server_id', 'gtid', 'file', 'pos', 'row', 'epoch'];

/**
 * The writer of `table`'s envelopes of Avro type `type`, or undefined when `type` is not the
 * envelope field for field (then the encoder builds the envelope object). `rowRecord` turns a row
 * image into its Avro record.
 */
export function envelopeWriter(type: avro.Type, table: TableSchema, settings: SourceBlockSettings, rowRecord: (row: Row) => Record<string, unknown>): EnvelopeWrite | undefined {
  if (!isRecordOf(type, ENVELOPE_FIELDS)) return undefined;
  const source = type.field('source')!.type;
  if (!isRecordOf(source, SOURCE_FIELDS)) return undefined;
  const write = (record: avro.types.RecordType, name: string) => writerOf(record.field(name)!.type);
  const [before, after, op, tsMs, transaction] = ['before', 'after', 'op', 'ts_ms', 'transaction'].map((name) => write(type, name)) as [Write, Write, Write, Write, Write];
  const [changeTime, snapshot, serverId, gtid, file, pos, row, epoch] = ['ts_ms', 'snapshot', 'server_id', 'gtid', 'file', 'pos', 'row', 'epoch'].map((name) => write(source, name)) as [
    Write,
    Write,
    Write,
    Write,
    Write,
    Write,
    Write,
    Write,
  ];
  const encoded = (values: Record<string, unknown>) => Buffer.concat(Object.entries(values).map(([name, value]) => source.field(name)!.type.toBuffer(value)));
  const head = encoded({ version: settings.version, connector: settings.connector, name: settings.prefix, source_id: settings.sourceId });
  const names = encoded({ db: table.database, table: table.table });
  return (tap, event) => {
    before(tap, event.before && rowRecord(event.before));
    after(tap, event.after && rowRecord(event.after));
    copyInto(tap, head);
    changeTime(tap, event.tsMs);
    snapshot(tap, event.snapshot);
    copyInto(tap, names);
    serverId(tap, event.serverId);
    gtid(tap, event.gtid ?? null);
    file(tap, event.position.file);
    pos(tap, event.position.pos);
    row(tap, event.position.row);
    epoch(tap, settings.epoch);
    op(tap, event.op);
    tsMs(tap, Date.now());
    transaction(tap, transactionRecord(event));
  };
}

/**
 * The same envelope as an object, for avsc's generic writer: what an oversize record re-encoded
 * without `before` carries (`withBefore` false), what an unexpected envelope type gets, and what
 * names the field at fault when a value is refused.
 */
export function envelopeRecord(event: ChangeEvent, settings: SourceBlockSettings, rowRecord: (row: Row) => Record<string, unknown>, withBefore: boolean): Record<string, unknown> {
  return {
    before: withBefore && event.before ? rowRecord(event.before) : null,
    after: event.after && rowRecord(event.after),
    source: {
      version: settings.version,
      connector: settings.connector,
      name: settings.prefix,
      source_id: settings.sourceId,
      ts_ms: event.tsMs,
      snapshot: event.snapshot,
      db: event.schema.database,
      table: event.schema.table,
      server_id: event.serverId,
      gtid: event.gtid ?? null,
      file: event.position.file,
      pos: event.position.pos,
      row: event.position.row,
      epoch: settings.epoch,
    },
    op: event.op,
    ts_ms: Date.now(),
    transaction: transactionRecord(event),
  };
}

/** The envelope's `transaction` (TRANSACTION_METADATA): where the change stands in its binlog transaction. */
function transactionRecord(event: ChangeEvent): Record<string, unknown> | null {
  const transaction = event.transaction;
  return transaction ? { id: transaction.id, total_order: transaction.totalOrder, data_collection_order: transaction.tableOrder } : null;
}

type Write = (tap: Tap, value: unknown) => void;

/**
 * Copies a few constant bytes at the cursor, moving it past the buffer's end when they do not fit
 * (as avsc's writeFixed does). With the typed array's own set(): avsc's writeFixed goes through
 * Buffer.copy, whose argument checks and native call cost more than copying runs this short (it
 * doubled Buffer.copy's share of the source's profile, at two calls a record).
 */
function copyInto(tap: Tap, bytes: Buffer): void {
  const { buf } = tap;
  const start = tap.pos;
  const end = start + bytes.length;
  if (end <= buf.length) buf.set(bytes, start);
  tap.pos = end;
}

function isRecordOf(type: avro.Type, fields: string[]): type is avro.types.RecordType {
  return type instanceof avro.types.RecordType && type.fields.length === fields.length && type.fields.every((field, i) => field.name === fields[i]);
}
