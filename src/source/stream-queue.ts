import type { StreamItem, StreamOutput } from './stream-items.ts';

/**
 * Bounded (in bytes) hand-over between the binlog reader and the dispatcher, holding single row
 * changes and transaction boundaries. The reader is paused once the queue could not take another
 * burst (the rows of one binlog event, which arrive together) without passing its bound, and
 * resumed once it drains below half of it: memory stays bounded however large a transaction is
 * and however far Kafka falls behind. `highWaterBytes` is the most it ever held.
 */
export class StreamQueue implements StreamOutput {
  readonly #maxBytes: number;
  readonly #onFull: () => void;
  readonly #onDrained: () => void;
  /** A ring of items and their sizes: take() moves `#head` instead of shifting the arrays. */
  #items: (StreamItem | undefined)[] = [];
  #sizes: number[] = [];
  #head = 0;
  #bytes = 0;
  #burst = 0;
  #highWater = 0;
  #paused = false;
  #waiter: (() => void) | undefined;
  #woken = false;
  /** Ends the dispatcher's linger once waiting longer brings nothing (see linger()). */
  #lingering: (() => void) | undefined;

  constructor(maxBytes: number, onFull: () => void, onDrained: () => void) {
    this.#maxBytes = maxBytes;
    this.#onFull = onFull;
    this.#onDrained = onDrained;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get highWaterBytes(): number {
    return this.#highWater;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  expectBurst(bytes: number): void {
    if (bytes > this.#burst) this.#burst = Math.min(bytes, this.#maxBytes / 2);
  }

  push(item: StreamItem, bytes: number): void {
    this.#items.push(item);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
    if (this.#bytes > this.#highWater) this.#highWater = this.#bytes;
    if (!this.#paused && this.#bytes + this.#burst >= this.#maxBytes) {
      this.#paused = true;
      this.#onFull();
    }
    if (this.#waiter) this.#wake();
    this.#lingering?.();
  }

  /** Whether a take of `maxEvents` / `maxBytes` would come back full, so waiting for more is pointless. */
  holds(maxEvents: number, maxBytes: number): boolean {
    return this.length >= maxEvents || this.#bytes >= maxBytes;
  }

  /** Takes items, in order, while they fit `maxEvents` and `maxBytes`; always at least one when any wait. */
  take(maxEvents: number, maxBytes: number): StreamItem[] {
    const out: StreamItem[] = [];
    let bytes = 0;
    while (this.#head < this.#items.length && out.length < maxEvents) {
      const size = this.#sizes[this.#head]!;
      if (out.length > 0 && bytes + size > maxBytes) break;
      out.push(this.#items[this.#head]!);
      this.#items[this.#head] = undefined;
      this.#head++;
      bytes += size;
    }
    this.#bytes -= bytes;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#sizes = [];
      this.#head = 0;
    } else if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#sizes = this.#sizes.slice(this.#head);
      this.#head = 0;
    }
    if (this.#paused && this.#bytes < this.#maxBytes / 2) {
      this.#paused = false;
      this.#onDrained();
    }
    return out;
  }

  /**
   * The dispatcher's linger, for more changes to group into its batch: resolves after `timeoutMs`,
   * or as soon as `enough()` holds, or the queue is full. Then waiting longer brings nothing: the
   * batch could be full, or the reader is paused until items are taken. A fixed sleep waited out
   * its whole time in both cases, once per batch whenever TXN_MAX_EVENTS changes took more than
   * QUEUE_MAX_BYTES (rows wider than about 800 bytes with the defaults).
   */
  linger(timeoutMs: number, enough: () => boolean): Promise<void> {
    if (this.#paused || enough()) return Promise.resolve();
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.#lingering = undefined;
        resolve();
      };
      const timer = setTimeout(end, timeoutMs);
      this.#lingering = () => {
        if (this.#paused || enough()) end();
      };
    });
  }

  /** Resolves when an item arrives, `wake()` is called (also before this wait began), or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    if (this.length > 0 || this.#woken) {
      this.#woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake(), timeoutMs);
      this.#waiter = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.();
  }

  /** Ends the current wait, or the next one at once: a wake while nobody waits is not lost. */
  wake(): void {
    if (this.#waiter) this.#wake();
    else this.#woken = true;
  }
}
