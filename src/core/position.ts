import { CdcError } from './errors.ts';

/**
 * A point in the source server's binlog: the binlog file, a byte position in it and, inside a rows
 * event, the ordinal of the row. `gtids` is the executed GTID set at a transaction boundary
 * (MariaDB `domain-server-seq` list or MySQL `uuid:intervals`), used to resume across failover.
 *
 * A stored position can also lie inside a binlog transaction that was split across several Kafka
 * transactions (Debezium's `event` offset): then file:pos is where that transaction starts, `gtids`
 * the set before it, and `event` how many of its change events are already committed. A restart
 * reads the transaction again and skips them. Outside a split transaction `event` is 0.
 *
 * `epoch` numbers the binlog histories the source has read (0 at first): it increments when the
 * binlog starts again under the source (RESET MASTER, a restored or another server, a re-snapshot
 * after the position was lost), so positions of a later history order after every earlier one.
 *
 * The total order is (epoch, file index, pos, row, event): file names end in a sequence number that
 * the server increments on every rotation and restart, so the index orders files even after a
 * restart. GTID sets are not part of the order (multi-domain sets are only partially ordered); on
 * one server they advance together with the file position.
 */
export class SourcePosition {
  readonly file: string;
  readonly pos: number;
  readonly row: number;
  readonly gtids: string | undefined;
  readonly fileIndex: number;
  /** Change events of the transaction starting at file:pos already committed (0: none, or not inside a transaction). */
  readonly event: number;
  /** The binlog history this position belongs to (see above). */
  readonly epoch: number;

  constructor(file: string, pos: number, row = 0, gtids?: string, event = 0, epoch = 0) {
    if (!Number.isSafeInteger(pos) || pos < 0) throw invalid(`position ${pos} is not a non-negative integer`);
    if (!Number.isSafeInteger(row) || row < 0) throw invalid(`row ${row} is not a non-negative integer`);
    if (!Number.isSafeInteger(event) || event < 0) throw invalid(`event ${event} is not a non-negative integer`);
    if (!Number.isSafeInteger(epoch) || epoch < 0) throw invalid(`epoch ${epoch} is not a non-negative integer`);
    this.file = file;
    this.pos = pos;
    this.row = row;
    this.gtids = gtids === '' ? undefined : gtids;
    this.event = event;
    this.epoch = epoch;
    this.fileIndex = binlogFileIndex(file);
  }

  static compare(a: SourcePosition, b: SourcePosition): number {
    return a.epoch - b.epoch || a.fileIndex - b.fileIndex || a.pos - b.pos || a.row - b.row || a.event - b.event;
  }

  isAfter(other: SourcePosition): boolean {
    return SourcePosition.compare(this, other) > 0;
  }

  equals(other: SourcePosition): boolean {
    return SourcePosition.compare(this, other) === 0 && this.gtids === other.gtids;
  }

  withRow(row: number): SourcePosition {
    return new SourcePosition(this.file, this.pos, row, this.gtids, this.event, this.epoch);
  }

  /** This transaction start with `event` change events of it committed. */
  withEvent(event: number): SourcePosition {
    return new SourcePosition(this.file, this.pos, this.row, this.gtids, event, this.epoch);
  }

  /** The same point without its GTID set: a resume by file and position. */
  withoutGtids(): SourcePosition {
    return new SourcePosition(this.file, this.pos, this.row, undefined, this.event, this.epoch);
  }

  /** The same point in binlog history `epoch`. */
  withEpoch(epoch: number): SourcePosition {
    return epoch === this.epoch ? this : new SourcePosition(this.file, this.pos, this.row, this.gtids, this.event, epoch);
  }

  /** `file:pos#row`, for logs and CLI output. */
  toString(): string {
    return `${this.epoch ? `epoch ${this.epoch} ` : ''}${this.file}:${this.pos}#${this.row}${this.event ? `+${this.event} events` : ''}${this.gtids ? ` gtids=${this.gtids}` : ''}`;
  }

  /** The one serialisation, used in the offsets topic and on /status; `event` only inside a split transaction, `epoch` only after the first history. */
  toJSON(): SerializedPosition {
    return {
      file: this.file,
      pos: this.pos,
      row: this.row,
      ...(this.gtids ? { gtids: this.gtids } : {}),
      ...(this.event ? { event: this.event } : {}),
      ...(this.epoch ? { epoch: this.epoch } : {}),
    };
  }

  /** Also reads positions stored before `event` or `epoch` existed (absent: 0). */
  static fromJSON(value: unknown): SourcePosition {
    if (!value || typeof value !== 'object') throw invalid(`expected an object, got ${JSON.stringify(value)}`);
    const { file, pos, row, gtids, event, epoch } = value as Record<string, unknown>;
    if (typeof file !== 'string' || typeof pos !== 'number') throw invalid(`missing file or pos in ${JSON.stringify(value)}`);
    if (row !== undefined && typeof row !== 'number') throw invalid(`row must be a number in ${JSON.stringify(value)}`);
    if (gtids !== undefined && typeof gtids !== 'string') throw invalid(`gtids must be a string in ${JSON.stringify(value)}`);
    if (event !== undefined && typeof event !== 'number') throw invalid(`event must be a number in ${JSON.stringify(value)}`);
    if (epoch !== undefined && typeof epoch !== 'number') throw invalid(`epoch must be a number in ${JSON.stringify(value)}`);
    return new SourcePosition(file, pos, row ?? 0, gtids, event ?? 0, epoch ?? 0);
  }
}

export interface SerializedPosition {
  file: string;
  pos: number;
  row: number;
  gtids?: string;
  event?: number;
  epoch?: number;
}

/** The last file name parsed: every change of a file asks for the same one. */
let lastFile = '';
let lastIndex = 0;

/** `mysql-bin.000042` → 42. The suffix is what the server increments on every rotation. */
export function binlogFileIndex(file: string): number {
  if (file === lastFile) return lastIndex;
  const match = /\.(\d+)$/.exec(file);
  if (!match) throw invalid(`binlog file name ${JSON.stringify(file)} has no numeric suffix`);
  lastFile = file;
  lastIndex = Number(match[1]);
  return lastIndex;
}

function invalid(message: string): CdcError {
  return new CdcError('SOURCE_POSITION_INVALID', `Invalid source position: ${message}`, {
    hint: 'Inspect it with `cdc offsets show`; reset it only if you accept re-reading or skipping changes.',
  });
}
