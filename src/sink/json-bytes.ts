import { isUtf8 } from 'node:buffer';

/** Bytes of a block documents are cut from; a larger document gets a block of its own size. */
const BLOCK_BYTES = 256 * 1024;

/** Up to this many bytes a JavaScript loop copies faster than Buffer#copy's native call. */
const SHORT_COPY_BYTES = 48;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Where the sink writes JSON as UTF-8 bytes: the documents it renders from Avro bytes, and its
 * bulk request bodies. Each piece written is a view of a block, so a document costs no string of
 * its own, nor a rope of column texts to flatten, nor another encoding on its way into the bulk
 * request. A piece never spans two blocks: one that outgrows its block moves with its bytes so
 * far to a new one, at least twice its size, so a large piece moves only a logarithmic number of
 * times. A block is freed once no piece of it is held, so memory follows the documents in hand
 * (bounded by the chunks in flight) plus one block.
 *
 * Writing is synchronous: begin() a piece, write its bytes, then end() it (its view) or close() it
 * (its block and range), or begin() the next one, which drops an unfinished one.
 */
export class JsonBytes {
  /** The block being written; valid only until the next write (it may move). */
  buf: Buffer;
  /** Where the next byte goes. */
  pos = 0;
  #start = 0;
  /** The block was made larger than BLOCK_BYTES for the piece being written. */
  #grown = false;
  /** The block of the piece last closed: the piece is `closedBlock[closedStart, closedEnd)`. */
  closedBlock: Buffer;
  closedStart = 0;
  closedEnd = 0;

  /** `bytes`: the first block's size (a request body's estimate); later blocks are at least BLOCK_BYTES. */
  constructor(bytes = BLOCK_BYTES) {
    this.buf = Buffer.allocUnsafeSlow(bytes);
    this.closedBlock = this.buf;
  }

  begin(): void {
    this.pos = this.#start;
  }

  /**
   * Closes the piece written since begin(), which then is closedBlock[closedStart, closedEnd):
   * a holder of many pieces keeps them so, without a view object each. A block grown for a large
   * piece is left to it: the next piece starts a block of the usual size, so one large row does
   * not keep a large block alive under the small documents after it.
   */
  close(): void {
    this.closedBlock = this.buf;
    this.closedStart = this.#start;
    this.closedEnd = this.pos;
    this.#start = this.pos;
    if (this.#grown) {
      this.buf = Buffer.allocUnsafeSlow(BLOCK_BYTES);
      this.#start = this.pos = 0;
      this.#grown = false;
    }
  }

  /** Closes the piece written since begin() and answers its view. */
  end(): Buffer {
    this.close();
    return this.closedBlock.subarray(this.closedStart, this.closedEnd);
  }

  /** Makes room for `bytes` more bytes at `pos`. */
  room(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    const written = this.pos - this.#start;
    const block = Buffer.allocUnsafeSlow(Math.max(BLOCK_BYTES, 2 * (written + bytes)));
    this.#grown = block.length > BLOCK_BYTES;
    this.buf.copy(block, 0, this.#start, this.pos);
    this.buf = block;
    this.#start = 0;
    this.pos = written;
  }

  byte(value: number): void {
    this.room(1);
    this.buf[this.pos++] = value;
  }

  /** Text known to be ASCII (numbers, dates, base64, field names already JSON-quoted). */
  ascii(text: string): void {
    this.room(text.length);
    this.pos += this.buf.write(text, this.pos, 'latin1');
  }

  /** Any text, as UTF-8. */
  utf8(text: string): void {
    this.room(3 * text.length);
    this.pos += this.buf.write(text, this.pos, 'utf8');
  }

  /** `source[start, end)` as it is. */
  copy(source: Buffer, start: number, end: number): void {
    const length = end - start;
    this.room(length);
    const { buf } = this;
    if (length <= SHORT_COPY_BYTES) {
      let at = this.pos;
      for (let i = start; i < end; i++) buf[at++] = source[i]!;
    } else {
      source.copy(buf, this.pos, start, end);
    }
    this.pos += length;
  }

  /**
   * A safe integer's decimal digits. String(n) would allocate a string for every number beyond
   * V8's small-integer cache: row ids and counters mostly are.
   */
  integer(value: number): void {
    this.decimal(value, 0);
  }

  /** `value` in exactly `width` digits, zero-padded (it must fit). */
  padded(value: number, width: number): void {
    this.room(width);
    this.#digits(value, width);
  }

  /** An unscaled decimal (a safe integer) with `scale` digits after the point, as formatUnscaled writes it. */
  decimal(unscaled: number, scale: number): void {
    this.room(19 + scale);
    let n = unscaled;
    if (n < 0) {
      this.buf[this.pos++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let power = 10; power <= n; power *= 10) digits++;
    if (digits <= scale) digits = scale + 1;
    const { buf } = this;
    let at = this.pos + digits + (scale > 0 ? 1 : 0);
    this.pos = at;
    for (let k = 0; k < digits; k++) {
      if (k === scale && scale > 0) buf[--at] = 0x2e;
      buf[--at] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
  }

  /**
   * UTF-8 text as a JSON string, exactly as JSON.stringify writes its decoded text: copied as it
   * is when nothing in it needs escaping (the usual case), through a string otherwise (escapes,
   * or bytes that are not UTF-8, which decoding replaces).
   */
  jsonString(source: Buffer, start: number, end: number): void {
    let high = false;
    for (let i = start; i < end; i++) {
      const b = source[i]!;
      if (b < 0x20 || b === QUOTE || b === BACKSLASH) return this.utf8(JSON.stringify(source.toString('utf8', start, end)));
      if (b >= 0x80) high = true;
    }
    if (high && !isUtf8(source.subarray(start, end))) return this.utf8(JSON.stringify(source.toString('utf8', start, end)));
    this.byte(QUOTE);
    this.copy(source, start, end);
    this.byte(QUOTE);
  }

  /** UTF-8 JSON text embedded as it is but on one line, as oneLineJsonText does with its decoded text. */
  jsonText(source: Buffer, start: number, end: number): void {
    if (!isUtf8(source.subarray(start, end))) return this.utf8(source.toString('utf8', start, end).replace(/[\r\n]/g, ' '));
    // Room first: a block that moves would leave `from` behind.
    this.room(end - start);
    const from = this.pos;
    this.copy(source, start, end);
    const { buf } = this;
    for (let i = from; i < this.pos; i++) if (buf[i] === 0x0a || buf[i] === 0x0d) buf[i] = 0x20;
  }

  /** `n` in exactly `width` digits ending at pos + width (room made). */
  #digits(value: number, width: number): void {
    const { buf } = this;
    let n = value;
    let at = this.pos + width;
    this.pos = at;
    for (let k = 0; k < width; k++) {
      buf[--at] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
  }
}
