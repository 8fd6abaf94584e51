// avsc's write cursor, which its types' writers take; avsc exports it without declaring it.
declare module 'avsc/lib/utils.js' {
  /** A buffer and a position; a write that does not fit moves the position past the buffer's end and writes nothing (or part). */
  export class Tap {
    constructor(buf: Buffer, pos?: number);
    buf: Buffer;
    pos: number;
    writeFixed(buf: Buffer, len: number): void;
  }
}
